// POST /chats: chats-api.txt and rulings.md 13, 14, 20-22.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../src/db/client.js';
import { ISO_DATE, nextEvent, OBJECT_ID, record, settle, startApp, withDevices, type TestApp } from './helpers/app.js';
import {
  block,
  connection,
  createChat,
  dbRows,
  follow,
  group,
  oneToOne,
  socketIdOf,
  STUDY_TAGS,
  userWithPhoto,
} from './chats-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const participantOf = (chat: any, userId: string) => chat.participants.find((p: any) => p.user === userId);

describe('POST /chats one-to-one', () => {
  it('creates the chat (201) in the spec shape with both participants, the creator an admin', async () => {
    const a = await t.user();
    const b = await t.user();
    await follow(t, a, b);
    const res = await createChat(t, a, { user: b.id });
    expect(res.statusCode).toBe(201);
    const { chat } = res.json();
    expect(Object.keys(res.json())).toEqual(['chat']);
    expect(Object.keys(chat).sort()).toEqual(
      ['_id', 'allowPublicPost', 'category', 'createdAt', 'creator', 'isGroup', 'name', 'participants', 'restricted', 'tags', 'updatedAt', 'user'].sort(),
    );
    expect(chat).toMatchObject({
      _id: expect.stringMatching(OBJECT_ID),
      creator: a.id,
      user: b.id,
      // rulings.md 9: seen by the creator, the other party's name (and photo: none here).
      name: b.name,
      isGroup: false,
      allowPublicPost: true,
      restricted: false,
      // rulings.md 14: one-to-one chats have no tags; their category is Study, as in the GET /chats example.
      category: 'Study',
      tags: [],
      createdAt: expect.stringMatching(ISO_DATE),
      updatedAt: expect.stringMatching(ISO_DATE),
    });
    expect(chat.participants).toHaveLength(2);
    expect(participantOf(chat, a.id)).toEqual({
      user: a.id,
      isAdmin: true,
      _id: expect.stringMatching(OBJECT_ID),
      lastReadAt: expect.stringMatching(ISO_DATE),
    });
    expect(participantOf(chat, b.id)).toEqual({
      user: b.id,
      _id: expect.stringMatching(OBJECT_ID),
      lastReadAt: expect.stringMatching(ISO_DATE),
    });

    const [row] = await dbRows<any>(
      t,
      sql`select pair_key, is_group, participants_count, meet_me_id from chats where id = ${chat._id}`,
    );
    expect(row).toEqual({
      pair_key: [a.id, b.id].sort().join(':'),
      is_group: false,
      participants_count: 2,
      meet_me_id: null,
    });
    const parts = await dbRows<any>(
      t,
      sql`select user_id, is_admin, is_group, iso(last_read_at) as read, iso(joined_at) as joined,
                 iso(activity_at) as activity from participants where chat_id = ${chat._id} order by is_admin`,
    );
    expect(parts.map((p) => [p.user_id, p.is_admin, p.is_group])).toEqual([
      [b.id, false, false],
      [a.id, true, false],
    ]);
    // rulings.md 13: lastReadAt starts at joining; activity_at is the chat's activity (updatedAt).
    for (const p of parts) {
      expect(p.read).toBe(p.joined);
      expect(p.activity).toBe(chat.updatedAt);
    }
  });

  it('answers 200 with the same chat when the pair already has one, from either side, and notifies nobody', async () => {
    const a = await t.user();
    const b = await t.user();
    await withDevices(t, a, b);
    await follow(t, b, a);
    const chat = await oneToOne(t, a, b);
    const bSocket = await t.socket(b);
    const aSocket = await t.socket(a);
    const seenB = record(bSocket, 'chat-created');
    const seenA = record(aSocket, 'chat-created');
    for (const [viewer, other] of [
      [a, b],
      [b, a],
    ]) {
      const res = await createChat(t, viewer, { user: other.id });
      expect(res.statusCode).toBe(200);
      // The same chat, as each side sees it (rulings.md 9).
      expect(res.json().chat).toEqual({ ...chat, name: other.name });
    }
    await settle(200);
    expect(seenA).toHaveLength(0);
    expect(seenB).toHaveLength(0);
    const [{ n }] = await dbRows<{ n: number }>(
      t,
      sql`select count(*)::int as n from chats where pair_key = ${[a.id, b.id].sort().join(':')}`,
    );
    expect(n).toBe(1);
    const pushes = await dbRows(t, sql`select 1 from push_outbox where chat_id = ${chat._id}`);
    expect(pushes).toHaveLength(0);
  });

  it('creates exactly one chat when many requests for the same pair race (both directions)', async () => {
    const a = await t.user();
    const b = await t.user();
    await follow(t, a, b);
    await follow(t, b, a);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createChat(t, i % 2 === 0 ? a : b, { user: i % 2 === 0 ? b.id : a.id })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(results.map((r) => r.json().chat._id));
    expect(ids.size).toBe(1);
    const chats = await dbRows<{ id: string }>(
      t,
      sql`select id from chats where pair_key = ${[a.id, b.id].sort().join(':')}`,
    );
    expect(chats.map((c) => c.id)).toEqual([...ids]);
    const parts = await dbRows(t, sql`select 1 from participants where chat_id = ${chats[0].id}`);
    expect(parts).toHaveLength(2);
  });

  it('sends chat-created to the other user and to the creator’s other sockets, never to the requesting socket', async () => {
    const a = await t.user();
    const b = await userWithPhoto(t);
    await withDevices(t, a, b);
    await follow(t, a, b);
    const requesting = await t.socket(a);
    const otherDevice = await t.socket(a);
    const bSocket = await t.socket(b);
    const seenByRequesting = record(requesting, 'chat-created');
    const onOther = nextEvent(otherDevice, 'chat-created');
    const onB = nextEvent(bSocket, 'chat-created');
    const res = await createChat(t, a, { user: b.id, socket: socketIdOf(requesting) });
    expect(res.statusCode).toBe(201);
    const { chat } = res.json();
    // rulings.md 9: each side sees the other's name and photo; a has no photo.
    expect(chat).toMatchObject({ name: b.name, photo: b.photo });
    expect(await onOther).toEqual({ chat });
    const { photo: _bPhoto, ...seenByB } = chat;
    expect(await onB).toEqual({ chat: { ...seenByB, name: a.name } });
    await settle(200);
    expect(seenByRequesting).toHaveLength(0);
    // No push for one-to-one chats (rulings.md 22).
    expect(await dbRows(t, sql`select 1 from push_outbox where chat_id = ${chat._id}`)).toHaveLength(0);
  });

  it('answers 400 when user is missing, is the viewer, or is not a 24-hex id', async () => {
    const a = await t.user();
    for (const [payload, field] of [
      [{}, 'user'],
      [{ isGroup: false }, 'user'],
      [{ user: a.id }, 'user'],
      [{ user: '123' }, 'user'],
      [{ user: 'ZZZZZZZZZZZZZZZZZZZZZZZZ' }, 'user'],
    ] as const) {
      const res = await createChat(t, a, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', field });
    }
  });

  it('answers 404 USER_NOT_FOUND for an unknown user', async () => {
    const a = await t.user();
    const res = await createChat(t, a, { user: 'aaaaaaaaaaaaaaaaaaaaaaaa' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'USER_NOT_FOUND' });
  });

  it('answers 403 NOT_FOLLOWED when the viewer neither follows nor is connected to the user', async () => {
    const a = await t.user();
    const b = await t.user();
    // b following a does not let a start a chat with b.
    await follow(t, b, a);
    const res = await createChat(t, a, { user: b.id });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'NOT_FOLLOWED', users: [b.id] });
    expect(await dbRows(t, sql`select 1 from chats where creator_id = ${a.id}`)).toHaveLength(0);
  });

  it('allows a user connected by an accepted meet-me connection without following', async () => {
    const a = await t.user();
    const b = await t.user();
    await connection(t, b, a);
    const res = await createChat(t, a, { user: b.id });
    expect(res.statusCode).toBe(201);
    expect(res.json().chat).not.toHaveProperty('meetMe');
  });

  it('answers 403 BLOCKED when either side blocked the other, even for an existing chat', async () => {
    const a = await t.user();
    const b = await t.user();
    await follow(t, a, b);
    await block(t, b, a);
    let res = await createChat(t, a, { user: b.id });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('BLOCKED');

    const c = await t.user();
    const d = await t.user();
    await oneToOne(t, c, d);
    await block(t, c, d);
    res = await createChat(t, c, { user: d.id });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('BLOCKED');
  });

  describe('meetMe', () => {
    it('creates a meet-me chat from an accepted connection (either direction) without following', async () => {
      const a = await t.user();
      const b = await t.user();
      const connectionId = await connection(t, a, b);
      const res = await createChat(t, b, { user: a.id, meetMe: connectionId });
      expect(res.statusCode).toBe(201);
      expect(res.json().chat).toMatchObject({ creator: b.id, user: a.id, meetMe: connectionId, isGroup: false });
      const [row] = await dbRows<any>(t, sql`select meet_me_id from chats where id = ${res.json().chat._id}`);
      expect(row.meet_me_id).toBe(connectionId);
    });

    it('answers 400 INVALID_CONNECTION for a pending or rejected connection', async () => {
      const a = await t.user();
      const b = await t.user();
      const pending = await connection(t, a, b, 'pending');
      let res = await createChat(t, a, { user: b.id, meetMe: pending });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'INVALID_CONNECTION', field: 'meetMe' });
      const c = await t.user();
      const rejected = await connection(t, a, c, 'rejected');
      res = await createChat(t, a, { user: c.id, meetMe: rejected });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('INVALID_CONNECTION');
    });

    it('answers 400 INVALID_CONNECTION for a connection between other users', async () => {
      const a = await t.user();
      const b = await t.user();
      const c = await t.user();
      const theirs = await connection(t, b, c);
      const res = await createChat(t, a, { user: b.id, meetMe: theirs });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'INVALID_CONNECTION', field: 'meetMe' });
    });

    it('answers 404 CONNECTION_NOT_FOUND for an unknown connection and 400 for a malformed id', async () => {
      const a = await t.user();
      const b = await t.user();
      let res = await createChat(t, a, { user: b.id, meetMe: 'bbbbbbbbbbbbbbbbbbbbbbbb' });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('CONNECTION_NOT_FOUND');
      res = await createChat(t, a, { user: b.id, meetMe: 'nope' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'meetMe' });
    });
  });
});

describe('POST /chats group', () => {
  it('creates the group (201) in the spec shape, the creator an admin participant', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    await follow(t, a, b, c);
    const res = await createChat(t, a, {
      isGroup: true,
      name: 'Future Scientists',
      category: 'Study',
      participants: [b.id, c.id],
      restricted: true,
    });
    expect(res.statusCode).toBe(201);
    const { chat } = res.json();
    // The keys of the spec's POST /chats example.
    expect(Object.keys(chat).sort()).toEqual(
      ['creator', 'isGroup', 'category', 'name', 'allowPublicPost', 'participants', 'restricted', '_id', 'tags', 'createdAt', 'updatedAt'].sort(),
    );
    expect(chat).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      creator: a.id,
      isGroup: true,
      category: 'Study',
      name: 'Future Scientists',
      allowPublicPost: true,
      restricted: true,
      tags: STUDY_TAGS,
      participants: expect.any(Array),
      createdAt: expect.stringMatching(ISO_DATE),
      updatedAt: chat.createdAt,
    });
    expect(chat.participants).toEqual([
      { user: b.id, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
      { user: c.id, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
      { user: a.id, isAdmin: true, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
    ]);
    const [row] = await dbRows<any>(
      t,
      sql`select is_group, pair_key, participants_count, tags, restricted, allow_public_post from chats where id = ${chat._id}`,
    );
    expect(row).toEqual({
      is_group: true,
      pair_key: null,
      participants_count: 3,
      tags: STUDY_TAGS,
      restricted: true,
      allow_public_post: true,
    });
    const parts = await dbRows<any>(t, sql`select is_group from participants where chat_id = ${chat._id}`);
    expect(parts.every((p) => p.is_group === true)).toBe(true);
  });

  it('defaults restricted to false and allowPublicPost to true; allowPublicPost false is kept', async () => {
    const a = await t.user();
    const b = await t.user();
    let chat = await group(t, a, [b], { category: 'Music' });
    expect(chat).toMatchObject({ restricted: false, allowPublicPost: true, tags: [], category: 'Music' });
    chat = await group(t, a, [b], { allowPublicPost: false });
    expect(chat.allowPublicPost).toBe(false);
  });

  it('forces restricted false for a Courses chat', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, a, [b], { category: 'Courses', restricted: true });
    expect(chat.restricted).toBe(false);
    const [row] = await dbRows<any>(t, sql`select restricted from chats where id = ${chat._id}`);
    expect(row.restricted).toBe(false);
  });

  it('drops duplicate ids and the viewer’s own id', async () => {
    const a = await t.user();
    const b = await t.user();
    await follow(t, a, b);
    const res = await createChat(t, a, {
      isGroup: true,
      name: 'Dupes',
      category: 'Other',
      participants: [b.id, b.id, a.id],
    });
    expect(res.statusCode).toBe(201);
    const users = res.json().chat.participants.map((p: any) => p.user);
    expect(users).toEqual([b.id, a.id]);
    const [row] = await dbRows<any>(t, sql`select participants_count from chats where id = ${res.json().chat._id}`);
    expect(row.participants_count).toBe(2);
  });

  it('answers 403 NOT_FOLLOWED naming every participant the viewer neither follows nor is connected to', async () => {
    const a = await t.user();
    const followed = await t.user();
    const connected = await t.user();
    const stranger1 = await t.user();
    const stranger2 = await t.user();
    await follow(t, a, followed);
    await connection(t, connected, a);
    const payload = {
      isGroup: true,
      name: 'Mixed',
      category: 'Social',
      participants: [followed.id, stranger1.id, connected.id, stranger2.id],
    };
    const res = await createChat(t, a, payload);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'NOT_FOLLOWED' });
    expect([...res.json().users].sort()).toEqual([stranger1.id, stranger2.id].sort());
    expect(await dbRows(t, sql`select 1 from chats where creator_id = ${a.id}`)).toHaveLength(0);
    // Followed and connected users are fine.
    const ok = await createChat(t, a, { ...payload, participants: [followed.id, connected.id] });
    expect(ok.statusCode).toBe(201);
  });

  it('answers 404 USER_NOT_FOUND naming unknown participant ids', async () => {
    const a = await t.user();
    const b = await t.user();
    await follow(t, a, b);
    const ghost = 'cccccccccccccccccccccccc';
    const res = await createChat(t, a, { isGroup: true, name: 'G', category: 'Study', participants: [b.id, ghost] });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'USER_NOT_FOUND', users: [ghost] });
  });

  it.each([
    [{ category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'name'],
    [{ name: '', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'name'],
    [{ name: '   ', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'name'],
    [{ name: 'x'.repeat(101), category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'name'],
    [{ name: 'G', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'category'],
    [{ name: 'G', category: 'Cooking', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'category'],
    [{ name: 'G', category: 'study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'] }, 'category'],
    [{ name: 'G', category: 'Study' }, 'participants'],
    [{ name: 'G', category: 'Study', participants: [] }, 'participants'],
    [{ name: 'G', category: 'Study', participants: ['123'] }, 'participants.0'],
    [{ name: 'G', category: 'Study', participants: Array.from({ length: 1001 }, (_, i) => i.toString(16).padStart(24, '0')) }, 'participants'],
    [{ name: 'G', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'], restricted: 'true' }, 'restricted'],
    [{ name: 'G', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'], socket: 'short' }, 'socket'],
    [{ name: 'G', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'], socket: 'has spaces in it 1234' }, 'socket'],
    [{ name: 'G', category: 'Study', participants: ['aaaaaaaaaaaaaaaaaaaaaaaa'], color: 'red' }, 'color'],
  ])('answers 400 naming the field for %j', async (payload, field) => {
    const a = await t.user();
    const res = await createChat(t, a, { isGroup: true, ...payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field });
  });

  it('sends chat-created to every participant (not the requesting socket) and pushes to all but the creator', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    await withDevices(t, a, b, c);
    await follow(t, a, b, c);
    const requesting = await t.socket(a);
    const otherDevice = await t.socket(a);
    const bSocket = await t.socket(b);
    const cSocket = await t.socket(c);
    const seenByRequesting = record(requesting, 'chat-created');
    const events = [otherDevice, bSocket, cSocket].map((s) => nextEvent(s, 'chat-created'));
    const res = await createChat(t, a, {
      isGroup: true,
      name: 'Party',
      category: 'Party',
      participants: [b.id, c.id],
      socket: socketIdOf(requesting),
    });
    expect(res.statusCode).toBe(201);
    const { chat } = res.json();
    for (const payload of await Promise.all(events)) expect(payload).toEqual({ chat });
    await settle(200);
    expect(seenByRequesting).toHaveLength(0);
    const pushes = await dbRows<any>(
      t,
      sql`select user_id, event, chat_id, title from push_outbox where chat_id = ${chat._id} order by user_id`,
    );
    expect(pushes).toEqual(
      [b.id, c.id].sort().map((id) => ({ user_id: id, event: 'chat-created', chat_id: chat._id, title: 'Party' })),
    );
  });

  it('without a socket, all of the creator’s sockets get chat-created', async () => {
    const a = await t.user();
    const b = await t.user();
    const s1 = await t.socket(a);
    const s2 = await t.socket(a);
    const events = [nextEvent(s1, 'chat-created'), nextEvent(s2, 'chat-created')];
    const chat = await group(t, a, [b]);
    for (const payload of await Promise.all(events)) expect(payload.chat._id).toBe(chat._id);
  });

  it('answers 401 without a token', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/chats', payload: { user: 'aaaaaaaaaaaaaaaaaaaaaaaa' } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('UNAUTHORIZED');
  });
});
