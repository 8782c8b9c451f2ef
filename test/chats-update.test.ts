// PUT /chats/:id and DELETE /chats/:id: chats-api.txt and rulings.md 14, 23, 29.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, nextEvent, record, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import {
  bigPng,
  dbRows,
  group,
  image,
  multipart,
  oneToOne,
  postMessage,
  socketIdOf,
  STUDY_TAGS,
  waitFor,
} from './chats-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const storageDir = (app: TestApp) => {
  const storage = app.deps.config.storage;
  if (storage.kind !== 'local') throw new Error('these tests read the local storage folder');
  return storage.dir;
};
const keyOf = (app: TestApp, url: string) => app.deps.storage.keyFromUrl(url)!;
const objectExists = (app: TestApp, url: string) => existsSync(path.join(storageDir(app), keyOf(app, url)));

function put(app: TestApp, user: TestUser, chatId: string, form: ReturnType<typeof multipart>) {
  return app.app.inject({
    method: 'PUT',
    url: `/chats/${chatId}`,
    headers: { ...user.auth, ...form.headers },
    payload: form.payload,
  });
}

const CHAT_DOCUMENT_KEYS = [
  '_id', 'creator', 'isGroup', 'name', 'category', 'allowPublicPost', 'participants', 'restricted', 'tags',
  'createdAt', 'updatedAt',
];

describe('PUT /chats/:id', () => {
  it('updates the given fields, keeps the others, and answers the chat document', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b], { name: 'Future Scientists', category: 'Music', restricted: true });
    await settle(20);
    const res = await put(t, a, doc._id, multipart({ name: '  Study Club ', category: 'Study', allowPublicPost: 'false' }));
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json())).toEqual(['chat']);
    const { chat } = res.json();
    expect(Object.keys(chat).sort()).toEqual([...CHAT_DOCUMENT_KEYS].sort());
    expect(chat).toEqual({
      ...doc,
      name: 'Study Club',
      category: 'Study',
      // rulings.md 14: the new category's tags.
      tags: STUDY_TAGS,
      allowPublicPost: false,
      restricted: true,
      updatedAt: expect.stringMatching(ISO_DATE),
    });
    expect(Date.parse(chat.updatedAt)).toBeGreaterThan(Date.parse(doc.updatedAt));

    const [row] = await dbRows<any>(
      t,
      sql`select name, category, tags, restricted, allow_public_post, iso(updated_at) as updated from chats where id = ${doc._id}`,
    );
    expect(row).toEqual({
      name: 'Study Club',
      category: 'Study',
      tags: STUDY_TAGS,
      restricted: true,
      allow_public_post: false,
      updated: chat.updatedAt,
    });
    // participants.activity_at follows the chat's activity (no messages: updatedAt).
    const activity = await dbRows<any>(t, sql`select iso(activity_at) as at from participants where chat_id = ${doc._id}`);
    expect(activity.map((p) => p.at)).toEqual([chat.updatedAt, chat.updatedAt]);

    const again = await put(t, a, doc._id, multipart({ restricted: 'false' }));
    expect(again.json().chat).toMatchObject({ name: 'Study Club', restricted: false, allowPublicPost: false });
  });

  it('moves the chat to the top of GET /chats when it has no newer message', async () => {
    const a = await t.user();
    const b = await t.user();
    const older = await group(t, a, [b]);
    const newer = await group(t, a, [b]);
    await put(t, a, older._id, multipart({ name: 'Renamed' }));
    const list = await t.app.inject({ url: '/chats', headers: b.auth });
    expect(list.json().chats.map((c: any) => c._id)).toEqual([older._id, newer._id]);
  });

  it('forces restricted false for Courses, whether the category is new or already Courses', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b], { restricted: true });
    let res = await put(t, a, doc._id, multipart({ category: 'Courses', restricted: 'true' }));
    expect(res.json().chat).toMatchObject({ category: 'Courses', restricted: false, tags: [] });
    res = await put(t, a, doc._id, multipart({ restricted: 'true' }));
    expect(res.json().chat.restricted).toBe(false);
    const [row] = await dbRows<any>(t, sql`select restricted from chats where id = ${doc._id}`);
    expect(row.restricted).toBe(false);
  });

  it('stores a photo (checked by content), serves it, and deletes the old one after a replacement', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const png = await image('png');
    let res = await put(t, a, doc._id, multipart({}, { fileName: 'tree.png', contentType: 'image/png', data: png }));
    expect(res.statusCode, res.body).toBe(200);
    const first: string = res.json().chat.photo;
    expect(first).toMatch(new RegExp(`/chats/${doc._id}/\\d+-\\d+-tree\\.png$`));
    expect(objectExists(t, first)).toBe(true);
    const served = await t.app.inject({ url: new URL(first).pathname });
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(png)).toBe(true);
    const [row] = await dbRows<any>(t, sql`select photo, photo_key from chats where id = ${doc._id}`);
    expect(row).toEqual({ photo: first, photo_key: keyOf(t, first) });

    // An AVIF sent under a misleading name and type is stored as what it is.
    res = await put(t, a, doc._id, multipart({ name: 'With photo' }, { fileName: 'tree.txt', contentType: 'text/plain', data: await image('avif') }));
    expect(res.statusCode, res.body).toBe(200);
    const second: string = res.json().chat.photo;
    expect(second).toMatch(/-tree\.avif$/);
    expect(res.json().chat.name).toBe('With photo');
    expect(objectExists(t, second)).toBe(true);
    await waitFor(async () => !objectExists(t, first));
    await waitFor(async () => (await dbRows(t, sql`select 1 from pending_object_deletes where key = ${keyOf(t, first)}`)).length === 0);
  });

  it.each(['jpeg', 'webp', 'gif'] as const)('accepts a %s photo', async (format) => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const res = await put(t, a, doc._id, multipart({}, { fileName: 'p', contentType: 'application/octet-stream', data: await image(format) }));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().chat.photo).toMatch(new RegExp(`-p\\.${format === 'jpeg' ? 'jpg' : format}$`));
  });

  it('answers 415 for a photo that is not an allowed image, whatever its name, and stores nothing', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    for (const data of [Buffer.from('not an image at all'), Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n'), Buffer.alloc(0)]) {
      const res = await put(t, a, doc._id, multipart({ name: 'Nope' }, { fileName: 'fake.png', contentType: 'image/png', data }));
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    const [row] = await dbRows<any>(t, sql`select name, photo from chats where id = ${doc._id}`);
    expect(row).toEqual({ name: doc.name, photo: null });
    expect(existsSync(path.join(storageDir(t), 'chats', doc._id))).toBe(false);
  });

  it('answers 413 for a photo over the limit and keeps no partial object', async () => {
    const small = await startApp({ PHOTO_MAX_BYTES: '4096' });
    try {
      const a = await small.user();
      const b = await small.user();
      const doc = await group(small, a, [b]);
      const big = await bigPng(20_000);
      expect(big.length).toBeGreaterThan(4096);
      const res = await put(small, a, doc._id, multipart({}, { fileName: 'big.png', contentType: 'image/png', data: big }));
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
      const folder = path.join(storageDir(small), 'chats', doc._id);
      expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
      const [row] = await dbRows<any>(small, sql`select photo from chats where id = ${doc._id}`);
      expect(row.photo).toBeNull();
      // Within the limit it is fine.
      const ok = await put(small, a, doc._id, multipart({}, { fileName: 'ok.png', contentType: 'image/png', data: await image('png') }));
      expect(ok.statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: '   ' }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [{ category: 'Cooking' }, 'category'],
    [{ restricted: 'yes' }, 'restricted'],
    [{ restricted: 'TRUE' }, 'restricted'],
    [{ allowPublicPost: '1' }, 'allowPublicPost'],
    [{ socket: 'bad' }, 'socket'],
    [{ color: 'red' }, 'color'],
  ])('answers 400 naming the field for %j and changes nothing', async (fields, field) => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const res = await put(t, a, doc._id, multipart(fields as Record<string, string>));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field });
    const [row] = await dbRows<any>(t, sql`select name, iso(updated_at) as updated from chats where id = ${doc._id}`);
    expect(row).toEqual({ name: doc.name, updated: doc.updatedAt });
  });

  it('answers 400 for a file under another field name', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const res = await put(t, a, doc._id, multipart({}, { field: 'avatar', fileName: 'a.png', contentType: 'image/png', data: await image('png') }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'avatar' });
  });

  it('answers 415 for a JSON body (the route takes form data)', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const res = await t.app.inject({ method: 'PUT', url: `/chats/${doc._id}`, headers: a.auth, payload: { name: 'x' } });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 403 NOT_AN_ADMIN for a participant who is not an admin, and stores no photo', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const res = await put(t, b, doc._id, multipart({ name: 'Mine now' }, { fileName: 'x.png', contentType: 'image/png', data: await image('png') }));
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, code: 'NOT_AN_ADMIN' });
    expect(existsSync(path.join(storageDir(t), 'chats', doc._id))).toBe(false);
  });

  it('answers 400 NOT_A_GROUP for a one-to-one chat, 403 NOT_A_PARTICIPANT, 404 CHAT_NOT_FOUND', async () => {
    const a = await t.user();
    const b = await t.user();
    const outsider = await t.user();
    const direct = await oneToOne(t, a, b);
    let res = await put(t, a, direct._id, multipart({ name: 'x' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('NOT_A_GROUP');
    const doc = await group(t, a, [b]);
    res = await put(t, outsider, doc._id, multipart({ name: 'x' }));
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
    res = await put(t, a, 'ffffffffffffffffffffffff', multipart({ name: 'x' }));
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('CHAT_NOT_FOUND');
  });

  it('sends chat-updated {chat} to the participants except the requesting socket', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const requesting = await t.socket(a);
    const otherDevice = await t.socket(a);
    const bSocket = await t.socket(b);
    const seenByRequesting = record(requesting, 'chat-updated');
    const events = [nextEvent(otherDevice, 'chat-updated'), nextEvent(bSocket, 'chat-updated')];
    const res = await put(t, a, doc._id, multipart({ name: 'Updated', socket: socketIdOf(requesting) }));
    expect(res.statusCode).toBe(200);
    for (const payload of await Promise.all(events)) expect(payload).toEqual({ chat: res.json().chat });
    await settle(200);
    expect(seenByRequesting).toHaveLength(0);
  });

  it("a form's socket naming another user's socket keeps nobody from chat-updated (rulings.md 7)", async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const bSocket = await t.socket(b);
    const aSocket = await t.socket(a);
    const events = [nextEvent(bSocket, 'chat-updated'), nextEvent(aSocket, 'chat-updated')];
    const res = await put(t, a, doc._id, multipart({ name: 'Updated', socket: socketIdOf(bSocket) }));
    expect(res.statusCode).toBe(200);
    for (const payload of await Promise.all(events)) expect(payload).toEqual({ chat: res.json().chat });
  });
});

describe('DELETE /chats/:id', () => {
  it('deletes the chat and everything of it in one go, and its storage objects after commit (rulings.md 29)', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const photo = (await put(t, a, doc._id, multipart({}, { fileName: 'p.png', contentType: 'image/png', data: await image('png') }))).json().chat.photo;
    // A message file stored in our storage (as POST /chats/:id/uploads would store it).
    const stored = await t.deps.storage.put(`chats/${doc._id}/${Date.now()}-1-clip.png`, await image('png', 16), 'image/png');
    const fileUrl = stored.url;
    const sent = await t.app.inject({
      method: 'POST',
      url: `/chats/${doc._id}/messages`,
      headers: a.auth,
      payload: { text: 'with a file', files: [{ url: fileUrl }] },
    });
    expect(sent.statusCode, sent.body).toBe(201);
    await postMessage(t, b, doc._id, 'plain');
    const [file] = await dbRows<any>(t, sql`select storage_keys from message_files where chat_id = ${doc._id}`);
    expect(file.storage_keys).toEqual([stored.key]);
    // An event, a join request and a reel of the chat.
    const eventId = newId();
    await dbRows(t, sql`insert into events (id, chat_id, creator_id, name, starts_at, ends_at)
      values (${eventId}, ${doc._id}, ${a.id}, 'Launch', now(), now() + interval '1 day')`);
    await dbRows(t, sql`update chats set event_id = ${eventId} where id = ${doc._id}`);
    const outsider = await t.user();
    await dbRows(t, sql`insert into join_requests (id, chat_id, user_id) values (${newId()}, ${doc._id}, ${outsider.id})`);
    const reelId = newId();
    await dbRows(t, sql`insert into reels (id, user_id, chat_id, description, tag, video)
      values (${reelId}, ${a.id}, ${doc._id}, 'r', 'Party', 'https://cdn.example.com/r.mp4')`);
    expect(objectExists(t, photo)).toBe(true);
    expect(objectExists(t, fileUrl)).toBe(true);

    const res = await t.app.inject({ method: 'DELETE', url: `/chats/${doc._id}`, headers: a.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });

    for (const table of ['participants', 'messages', 'message_files', 'join_requests', 'events']) {
      const left = await dbRows(t, sql`select 1 from ${sql.raw(table)} where chat_id = ${doc._id}`);
      expect(left, table).toHaveLength(0);
    }
    expect(await dbRows(t, sql`select 1 from chats where id = ${doc._id}`)).toHaveLength(0);
    expect(await dbRows(t, sql`select 1 from events where id = ${eventId}`)).toHaveLength(0);
    const [reel] = await dbRows<any>(t, sql`select chat_id from reels where id = ${reelId}`);
    expect(reel.chat_id).toBeNull();
    const removals = await dbRows<any>(t, sql`select user_id from chat_removals where chat_id = ${doc._id} order by user_id`);
    expect(removals.map((r) => r.user_id)).toEqual([a.id, b.id].sort());
    await waitFor(async () => !objectExists(t, photo) && !objectExists(t, fileUrl));
    await waitFor(async () =>
      (await dbRows(t, sql`select 1 from pending_object_deletes where key in (${keyOf(t, photo)}, ${keyOf(t, fileUrl)})`)).length === 0,
    );
    const again = await t.app.inject({ url: `/chats/${doc._id}`, headers: a.auth });
    expect(again.statusCode).toBe(404);
    expect((await t.app.inject({ url: '/chats', headers: b.auth })).json()).toEqual({ chats: [], count: 0 });
  });

  it('sends chat-deleted {chat: id} to the participants except the requesting socket', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const requesting = await t.socket(a);
    const otherDevice = await t.socket(a);
    const bSocket = await t.socket(b);
    const seenByRequesting = record(requesting, 'chat-deleted');
    const events = [nextEvent(otherDevice, 'chat-deleted'), nextEvent(bSocket, 'chat-deleted')];
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/chats/${doc._id}`,
      headers: a.auth,
      payload: { socket: socketIdOf(requesting) },
    });
    expect(res.statusCode).toBe(200);
    for (const payload of await Promise.all(events)) expect(payload).toEqual({ chat: doc._id });
    await settle(200);
    expect(seenByRequesting).toHaveLength(0);
  });

  it('answers 403 NOT_AN_ADMIN, 400 NOT_A_GROUP, 403 NOT_A_PARTICIPANT, 404 CHAT_NOT_FOUND and changes nothing', async () => {
    const a = await t.user();
    const b = await t.user();
    const outsider = await t.user();
    const doc = await group(t, a, [b]);
    const direct = await oneToOne(t, a, b);
    const cases: [TestUser, string, number, string][] = [
      [b, doc._id, 403, 'NOT_AN_ADMIN'],
      [outsider, doc._id, 403, 'NOT_A_PARTICIPANT'],
      [a, direct._id, 400, 'NOT_A_GROUP'],
      [a, '0123456789abcdef01234567', 404, 'CHAT_NOT_FOUND'],
    ];
    for (const [user, chatId, status, code] of cases) {
      const res = await t.app.inject({ method: 'DELETE', url: `/chats/${chatId}`, headers: user.auth });
      expect(res.statusCode, code).toBe(status);
      expect(res.json().code).toBe(code);
    }
    expect(await dbRows(t, sql`select 1 from chats where id in (${doc._id}, ${direct._id})`)).toHaveLength(2);
    const bad = await t.app.inject({ method: 'DELETE', url: `/chats/${doc._id}`, headers: a.auth, payload: { socket: '!' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'socket' });
  });
});
