// Messages (supporting-api.md "Messages and files"): post, list, edit, delete. Black-box through
// the real app, two sockets per user where a `socket` is given (the requesting one gets nothing),
// and the rows afterwards.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { ISO_DATE, OBJECT_ID, settle, startApp, withDevices, type TestApp, type TestUser } from './helpers/app.js';
import {
  api,
  chatRow,
  device,
  eventsOf,
  groupChat,
  messageRow,
  oneToOne,
  participantRows,
  png,
  received,
  send,
  upload,
} from './helpers/messages-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;
const brief = (u: TestUser) => ({ _id: u.id, name: u.name, username: u.username });

async function pushRows(userId: string, chatId: string) {
  return rows<any>(
    db(),
    sql`select event, chat_id, title, body from push_outbox
        where user_id = ${userId} and chat_id = ${chatId} and event = 'message-created' order by id`,
  );
}

describe('POST /chats/:id/messages', () => {
  it('creates the message in the lastMessage shape, emits message-created to every socket but the requesting one, and keeps the chat rows', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b, c]);
    const [a1, a2, b1, b2] = [await device(t, a), await device(t, a), await device(t, b), await device(t, b)];
    const before = await participantRows(t, chat.id);

    const res = await api(t, a, 'POST', `/chats/${chat.id}/messages`, {
      text: 'Hello group',
      files: [
        {
          url: 'https://cdn.example.com/chats/x/1000231137.jpg',
          cover: 'https://cdn.example.com/chats/x/cover.jpg',
          meta: { mediaType: 'image', fileName: '1000231137.jpg', fileSize: 56808, duration: null },
          tag: 'exams',
        },
        { url: 'https://cdn.example.com/chats/x/notes.pdf' },
      ],
      socket: a1.id,
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['message']);
    const message = body.message;
    expect(Object.keys(message).sort()).toEqual(['_id', 'at', 'chat', 'files', 'text', 'user']);
    expect(message).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      user: brief(a),
      chat: chat.id,
      text: 'Hello group',
      files: [
        {
          url: 'https://cdn.example.com/chats/x/1000231137.jpg',
          cover: 'https://cdn.example.com/chats/x/cover.jpg',
          meta: { mediaType: 'image', fileName: '1000231137.jpg', fileSize: 56808, duration: null },
          tag: 'exams',
          _id: expect.stringMatching(OBJECT_ID),
        },
        { url: 'https://cdn.example.com/chats/x/notes.pdf', tag: 'others', _id: expect.stringMatching(OBJECT_ID) },
      ],
      at: expect.stringMatching(ISO_DATE),
    });

    // Every participant's sockets get it, except the one that sent the request.
    for (const d of [a2, b1, b2]) expect(await received(d, 'message-created')).toEqual({ message });
    await settle();
    expect(eventsOf(a1, 'message-created')).toEqual([]);

    // Rows: the message, its files, the chat's last message, activity for all, the sender's read mark.
    expect(await messageRow(t, message._id)).toMatchObject({ chat_id: chat.id, user_id: a.id, text: 'Hello group', at: message.at, deleted_at: null });
    const files = await rows<any>(
      db(),
      sql`select id, position, url, cover, meta, tag, media_type, storage_keys, user_id, chat_id, iso(at) as at
          from message_files where message_id = ${message._id} order by position`,
    );
    expect(files).toEqual([
      {
        id: message.files[0]._id, position: 0, url: message.files[0].url, cover: message.files[0].cover,
        meta: message.files[0].meta, tag: 'exams', media_type: 'image', storage_keys: [], user_id: a.id, chat_id: chat.id, at: message.at,
      },
      {
        id: message.files[1]._id, position: 1, url: message.files[1].url, cover: null,
        meta: null, tag: 'others', media_type: 'document', storage_keys: [], user_id: a.id, chat_id: chat.id, at: message.at,
      },
    ]);
    expect(await chatRow(t, chat.id)).toMatchObject({ last_message_id: message._id, last_message_at: message.at });
    const after = await participantRows(t, chat.id);
    for (const p of after) {
      expect(p.activity_at).toBe(message.at);
      const was = before.find((x: any) => x.user_id === p.user_id);
      expect(p.last_read_at).toBe(p.user_id === a.id ? message.at : was.last_read_at);
    }
  });

  it('pushes to participants who are offline and have a device, not to online ones nor the sender (group: chat name as title)', async () => {
    const [a, b, c, d] = [await t.user(), await t.user(), await t.user(), await t.user()];
    await withDevices(t, a, b, c); // d registered no device: nothing could deliver a push to d
    const chat = await groupChat(t, a, [b, c, d], { name: 'Future Scientists' });
    const bDevice = await device(t, b); // b is online, c and d are not
    await send(t, a, chat.id, { text: 'Exam tomorrow' });
    await received(bDevice, 'message-created');
    expect(await pushRows(c.id, chat.id)).toEqual([
      { event: 'message-created', chat_id: chat.id, title: 'Future Scientists', body: `${a.name}: Exam tomorrow` },
    ]);
    expect(await pushRows(b.id, chat.id)).toEqual([]);
    expect(await pushRows(a.id, chat.id)).toEqual([]);
    expect(await pushRows(d.id, chat.id)).toEqual([]);
  });

  it('pushes in one-to-one chats with the sender as title, "sent a file" for a message of files only', async () => {
    const [a, b] = [await t.user(), await t.user()];
    await withDevices(t, b);
    const chatId = await oneToOne(t, a, b);
    await send(t, a, chatId, { text: 'hi there' });
    await send(t, a, chatId, { files: [{ url: 'https://cdn.example.com/v.mp4' }] });
    expect(await pushRows(b.id, chatId)).toEqual([
      { event: 'message-created', chat_id: chatId, title: a.name, body: 'hi there' },
      { event: 'message-created', chat_id: chatId, title: a.name, body: 'sent a file' },
    ]);
  });

  it('stores a file-only message without text, and a blank caption next to files as no text', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const onlyFiles = await send(t, a, chatId, { files: [{ url: 'https://cdn.example.com/a.png' }] });
    expect(onlyFiles).not.toHaveProperty('text');
    const blank = await send(t, a, chatId, { text: '   ', files: [{ url: 'https://cdn.example.com/b.png' }] });
    expect(blank).not.toHaveProperty('text');
    expect((await messageRow(t, blank._id)).text).toBeNull();
  });

  it.each([
    [{}, 'text'],
    [{ text: '' }, 'text'],
    [{ text: ' \n\t ' }, 'text'],
    [{ files: [] }, 'text'],
    [{ text: 'x'.repeat(4001) }, 'text'],
    [{ text: 5 }, 'text'],
    [{ files: Array.from({ length: 11 }, (_, i) => ({ url: `https://cdn.example.com/${i}.jpg` })) }, 'files'],
    [{ files: [{}] }, 'files.0.url'],
    [{ files: [{ url: 'not a url' }] }, 'files.0.url'],
    [{ files: [{ url: 'javascript:alert(1)' }] }, 'files.0.url'],
    [{ files: [{ url: `https://cdn.example.com/${'a'.repeat(2040)}.jpg` }] }, 'files.0.url'],
    [{ files: [{ url: 'https://cdn.example.com/a.jpg', cover: 'ftp://x/y.jpg' }] }, 'files.0.cover'],
    [{ files: [{ url: 'https://cdn.example.com/a.jpg', meta: [1, 2] }] }, 'files.0.meta'],
    [{ files: [{ url: 'https://cdn.example.com/a.jpg', tag: 'x'.repeat(51) }] }, 'files.0.tag'],
    [{ files: [{ url: 'https://cdn.example.com/a.jpg', tag: '' }] }, 'files.0.tag'],
    [{ files: [{ url: 'https://cdn.example.com/a.jpg', size: 1 }] }, 'files.0.size'],
    [{ text: 'hi', socket: 'short' }, 'socket'],
    [{ text: 'hi', pinned: true }, 'pinned'],
  ])('answers 400 naming the field for %j and writes nothing', async (payload, field) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await api(t, a, 'POST', `/chats/${chatId}/messages`, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', field });
    expect(await rows(db(), sql`select id from messages where chat_id = ${chatId}`)).toEqual([]);
  });

  it('accepts exactly 4000 characters and 10 files', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const message = await send(t, a, chatId, {
      text: 'x'.repeat(4000),
      files: Array.from({ length: 10 }, (_, i) => ({ url: `https://cdn.example.com/${i}.jpg` })),
    });
    expect(message.text).toHaveLength(4000);
    expect(message.files.map((f: any) => f.url)).toEqual(Array.from({ length: 10 }, (_, i) => `https://cdn.example.com/${i}.jpg`));
  });

  it('answers 400 for a chat id that is not 24 hex, 404 CHAT_NOT_FOUND for an unknown chat, 401 without a token', async () => {
    const a = await t.user();
    const bad = await api(t, a, 'POST', '/chats/123/messages', { text: 'hi' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
    const missing = await api(t, a, 'POST', '/chats/aaaaaaaaaaaaaaaaaaaaaaaa/messages', { text: 'hi' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'CHAT_NOT_FOUND' });
    const anonymous = await api(t, null, 'POST', '/chats/aaaaaaaaaaaaaaaaaaaaaaaa/messages', { text: 'hi' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('answers 403 NOT_A_PARTICIPANT to a user outside the chat', async () => {
    const [a, b, stranger] = [await t.user(), await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const res = await api(t, stranger, 'POST', `/chats/${chat.id}/messages`, { text: 'let me in' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'NOT_A_PARTICIPANT' });
  });

  it('with allowPublicPost false only admins post (403 POSTING_NOT_ALLOWED for others)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b], { allowPublicPost: false });
    const res = await api(t, b, 'POST', `/chats/${chat.id}/messages`, { text: 'may I?' });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('POSTING_NOT_ALLOWED');
    await send(t, a, chat.id, { text: 'admins may' });
    expect(await rows(db(), sql`select user_id from messages where chat_id = ${chat.id}`)).toEqual([{ user_id: a.id }]);
  });

  it.each(['pending', 'rejected'])('a participant whose event status is %s cannot post (403 POSTING_NOT_ALLOWED); accepted can', async (status) => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const setStatus = (s: string) =>
      db().execute(sql`update participants set status = ${s} where chat_id = ${chat.id} and user_id = ${b.id}`);
    await setStatus(status);
    const res = await api(t, b, 'POST', `/chats/${chat.id}/messages`, { text: 'hello' });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('POSTING_NOT_ALLOWED');
    await setStatus('accepted');
    await send(t, b, chat.id, { text: 'hello' });
  });

  it('in a one-to-one chat with a block either way, posting is 403 BLOCKED for both sides', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    await api(t, b, 'POST', `/users/${a.id}/block`);
    for (const sender of [a, b]) {
      const res = await api(t, sender, 'POST', `/chats/${chatId}/messages`, { text: 'hello?' });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('BLOCKED');
    }
    expect(await rows(db(), sql`select id from messages where chat_id = ${chatId}`)).toEqual([]);
    await api(t, b, 'DELETE', `/users/${a.id}/block`);
    await send(t, a, chatId, { text: 'unblocked' });
  });

  it('derives each file media type: meta.mediaType when valid, else meta.fileName, else the URL name; unknown is other', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const message = await send(t, a, chatId, {
      files: [
        { url: 'https://cdn.example.com/x.bin', meta: { mediaType: 'video' } },
        { url: 'https://cdn.example.com/x.bin', meta: { mediaType: 'hologram', fileName: 'song.MP3' } },
        { url: 'https://cdn.example.com/photos/IMG_1.HEIC?v=2' },
        { url: 'https://cdn.example.com/report.docx' },
        { url: 'https://cdn.example.com/archive.zip' },
        { url: 'https://cdn.example.com/no-extension' },
      ],
    });
    const types = await rows<{ media_type: string }>(
      db(),
      sql`select media_type from message_files where message_id = ${message._id} order by position`,
    );
    expect(types.map((r) => r.media_type)).toEqual(['video', 'audio', 'image', 'document', 'other', 'other']);
  });

  it("records storage keys only for our own objects in this chat's folder", async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const ours = t.deps.storage.urlFor(`chats/${chatId}/1-2-photo.png`);
    const cover = t.deps.storage.urlFor(`chats/${chatId}/1-3-cover.jpg`);
    const otherChat = t.deps.storage.urlFor('chats/bbbbbbbbbbbbbbbbbbbbbbbb/1-2-photo.png');
    const message = await send(t, a, chatId, {
      files: [{ url: ours, cover }, { url: otherChat }, { url: 'https://cdn.example.com/x.png' }],
    });
    const keys = await rows<{ storage_keys: string[] }>(
      db(),
      sql`select storage_keys from message_files where message_id = ${message._id} order by position`,
    );
    expect(keys.map((r) => r.storage_keys)).toEqual([[`chats/${chatId}/1-2-photo.png`, `chats/${chatId}/1-3-cover.jpg`], [], []]);
  });

  it('keeps last_message_id on the newest message when two are posted at once', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => api(t, i % 2 ? a : b, 'POST', `/chats/${chatId}/messages`, { text: `m${i}` })),
    );
    expect(results.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201, 201]);
    const newest = await rows<{ id: string; at: string }>(
      db(),
      sql`select id, iso(at) as at from messages where chat_id = ${chatId} order by at desc, id desc limit 1`,
    );
    expect(await chatRow(t, chatId)).toMatchObject({ last_message_id: newest[0].id, last_message_at: newest[0].at });
  });
});

describe('GET /chats/:id/messages', () => {
  it('lists live messages newest first in pages of `limit`, continuing `before` a message', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await send(t, i % 2 ? b : a, chatId, { text: `m${i}` }));
    const deleted = await api(t, a, 'DELETE', `/chats/${chatId}/messages/${sent[2]._id}`);
    expect(deleted.statusCode).toBe(200);

    const first = await api(t, b, 'GET', `/chats/${chatId}/messages?limit=2`);
    expect(first.statusCode).toBe(200);
    expect(Object.keys(first.json())).toEqual(['messages']);
    expect(first.json().messages).toEqual([sent[4], sent[3]]);
    const second = await api(t, b, 'GET', `/chats/${chatId}/messages?limit=2&before=${sent[3]._id}`);
    expect(second.json().messages).toEqual([sent[1], sent[0]]);
    const third = await api(t, b, 'GET', `/chats/${chatId}/messages?limit=2&before=${sent[0]._id}`);
    expect(third.json().messages).toEqual([]);
    // A deleted message is still a valid cursor.
    const afterDeleted = await api(t, b, 'GET', `/chats/${chatId}/messages?before=${sent[2]._id}`);
    expect(afterDeleted.json().messages).toEqual([sent[1], sent[0]]);
    const all = await api(t, a, 'GET', `/chats/${chatId}/messages`);
    expect(all.json().messages.map((m: any) => m.text)).toEqual(['m4', 'm3', 'm1', 'm0']);
  });

  it('pages messages posted in the same millisecond without skipping or repeating any', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    for (let i = 0; i < 4; i++) await send(t, a, chatId, { text: `m${i}` });
    // Same `at` for all: the order falls back to the id.
    await db().execute(sql`update messages set at = '2025-01-01T00:00:00.000Z' where chat_id = ${chatId}`);
    const seen: string[] = [];
    let before = '';
    for (let page = 0; page < 4; page++) {
      const res = await api(t, a, 'GET', `/chats/${chatId}/messages?limit=1${before ? `&before=${before}` : ''}`);
      const [m] = res.json().messages;
      if (!m) break;
      seen.push(m.text);
      before = m._id;
    }
    expect(seen.sort()).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('defaults limit to 30', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    for (let i = 0; i < 31; i++) await send(t, a, chatId, { text: `m${i}` });
    const res = await api(t, a, 'GET', `/chats/${chatId}/messages`);
    expect(res.json().messages).toHaveLength(30);
    expect(res.json().messages[0].text).toBe('m30');
  });

  it('answers 404 MESSAGE_NOT_FOUND for a `before` that is not a message of this chat', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const otherChat = await oneToOne(t, a, c);
    const elsewhere = await send(t, a, otherChat, { text: 'elsewhere' });
    for (const before of ['cccccccccccccccccccccccc', elsewhere._id]) {
      const res = await api(t, a, 'GET', `/chats/${chatId}/messages?before=${before}`);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: 'MESSAGE_NOT_FOUND', field: 'before' });
    }
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['before=123', 'before'],
  ])('answers 400 for %s', async (query, field) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await api(t, a, 'GET', `/chats/${chatId}/messages?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('is for participants only (403) of existing chats (404)', async () => {
    const [a, b, stranger] = [await t.user(), await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await api(t, stranger, 'GET', `/chats/${chatId}/messages`);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
    // Access is checked before the cursor: a stranger learns nothing of the chat's messages.
    const withCursor = await api(t, stranger, 'GET', `/chats/${chatId}/messages?before=cccccccccccccccccccccccc`);
    expect(withCursor.json().code).toBe('NOT_A_PARTICIPANT');
    const missing = await api(t, a, 'GET', '/chats/dddddddddddddddddddddddd/messages');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CHAT_NOT_FOUND');
  });
});

describe('PUT /chats/:id/messages/:messageId', () => {
  it('lets the sender edit: {message} with editedAt, message-updated to all sockets but the requesting one, lastMessage shows the edit', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const original = await send(t, a, chatId, { text: 'helo', files: [{ url: 'https://cdn.example.com/a.jpg' }] });
    const [a1, a2, b1] = [await device(t, a), await device(t, a), await device(t, b)];

    const res = await api(t, a, 'PUT', `/chats/${chatId}/messages/${original._id}`, { text: 'hello', socket: a1.id });
    expect(res.statusCode).toBe(200);
    const message = res.json().message;
    expect(Object.keys(res.json())).toEqual(['message']);
    expect(message).toEqual({ ...original, text: 'hello', editedAt: expect.stringMatching(ISO_DATE) });
    expect(Object.keys(message).sort()).toEqual(['_id', 'at', 'chat', 'editedAt', 'files', 'text', 'user']);

    for (const d of [a2, b1]) expect(await received(d, 'message-updated')).toEqual({ message });
    await settle();
    expect(eventsOf(a1, 'message-updated')).toEqual([]);

    const row = await messageRow(t, original._id);
    expect(row).toMatchObject({ text: 'hello', edited_at: message.editedAt, updated_at: message.editedAt, at: original.at });
    // The chat list reads lastMessage through last_message_id: it shows the edit; unread is unchanged.
    const view = await api(t, b, 'GET', `/chats/${chatId}`);
    expect(view.statusCode).toBe(200);
    expect(view.json().chat.lastMessage).toMatchObject({ _id: original._id, text: 'hello', editedAt: message.editedAt });
    expect(view.json().chat.unread).toBe(1);
  });

  it('answers 403 NOT_THE_SENDER to anyone else, even an admin', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const message = await send(t, b, chat.id, { text: 'mine' });
    const res = await api(t, a, 'PUT', `/chats/${chat.id}/messages/${message._id}`, { text: 'yours now' });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_THE_SENDER');
    expect((await messageRow(t, message._id)).text).toBe('mine');
  });

  it('answers 404 MESSAGE_NOT_FOUND for an unknown, deleted or other-chat message', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const otherChat = await oneToOne(t, a, c);
    const elsewhere = await send(t, a, otherChat, { text: 'elsewhere' });
    const gone = await send(t, a, chatId, { text: 'gone' });
    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${gone._id}`);
    for (const id of ['eeeeeeeeeeeeeeeeeeeeeeee', gone._id, elsewhere._id]) {
      const res = await api(t, a, 'PUT', `/chats/${chatId}/messages/${id}`, { text: 'edit' });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('MESSAGE_NOT_FOUND');
    }
  });

  it('answers 403 NOT_A_PARTICIPANT to a sender who left the chat', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const message = await send(t, b, chat.id, { text: 'before leaving' });
    await db().execute(sql`delete from participants where chat_id = ${chat.id} and user_id = ${b.id}`);
    const res = await api(t, b, 'PUT', `/chats/${chat.id}/messages/${message._id}`, { text: 'after leaving' });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
  });

  it.each([
    [{}, 'text'],
    [{ text: '  ' }, 'text'],
    [{ text: 'x'.repeat(4001) }, 'text'],
    [{ text: 'ok', socket: '!!' }, 'socket'],
    [{ text: 'ok', files: [] }, 'files'],
  ])('answers 400 for %j', async (payload, field) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const message = await send(t, a, chatId, { text: 'text only' });
    const res = await api(t, a, 'PUT', `/chats/${chatId}/messages/${message._id}`, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('clears the caption of a message with files when the new text is blank', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const message = await send(t, a, chatId, { text: 'caption', files: [{ url: 'https://cdn.example.com/a.jpg' }] });
    const res = await api(t, a, 'PUT', `/chats/${chatId}/messages/${message._id}`, { text: '' });
    expect(res.statusCode).toBe(200);
    expect(res.json().message).not.toHaveProperty('text');
    expect(res.json().message.editedAt).toMatch(ISO_DATE);
  });
});

describe('DELETE /chats/:id/messages/:messageId', () => {
  it('soft-deletes for the sender, emits message-deleted {chat, message} to all sockets but the requesting one', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const message = await send(t, a, chatId, { text: 'oops', files: [{ url: 'https://cdn.example.com/a.jpg' }] });
    const [a1, a2, b1] = [await device(t, a), await device(t, a), await device(t, b)];

    const res = await api(t, a, 'DELETE', `/chats/${chatId}/messages/${message._id}`, { socket: a1.id });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    for (const d of [a2, b1]) expect(await received(d, 'message-deleted')).toEqual({ chat: chatId, message: message._id });
    await settle();
    expect(eventsOf(a1, 'message-deleted')).toEqual([]);

    const row = await messageRow(t, message._id);
    expect(row.text).toBeNull();
    expect(row.deleted_at).toMatch(ISO_DATE);
    expect(row.updated_at).toBe(row.deleted_at);
    expect(await rows(db(), sql`select id from message_files where message_id = ${message._id}`)).toEqual([]);
    const again = await api(t, a, 'DELETE', `/chats/${chatId}/messages/${message._id}`);
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('MESSAGE_NOT_FOUND');
  });

  it('lets a chat admin delete anyone’s message; others get 403 NOT_THE_SENDER', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b, c]);
    const fromB = await send(t, b, chat.id, { text: 'from b' });
    const byC = await api(t, c, 'DELETE', `/chats/${chat.id}/messages/${fromB._id}`);
    expect(byC.statusCode).toBe(403);
    expect(byC.json().code).toBe('NOT_THE_SENDER');
    expect((await messageRow(t, fromB._id)).deleted_at).toBeNull();
    const byAdmin = await api(t, a, 'DELETE', `/chats/${chat.id}/messages/${fromB._id}`);
    expect(byAdmin.statusCode).toBe(200);
    expect((await messageRow(t, fromB._id)).deleted_at).toMatch(ISO_DATE);
  });

  it("shows in the POST and PUT answers, GET /chats, GET /chats/:id and the message page exactly as message_json() renders it (files, cover, meta, edit, quotes, no text)", async () => {
    // The statements write the message out (liveMessageText, src/messages/queries.ts);
    // message_json() in drizzle/0001_sql_functions.sql renders it for GET /sync: the two must agree.
    const rendered = async (id: string) =>
      (await rows<{ message: unknown }>(t.deps.database.db, sql`select message_json(m) as message from messages m where m.id = ${id}`))[0].message;
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const sent = await send(t, a, chatId, {
      text: 'a "quoted" \\ line\nand emoji 🎉',
      files: [
        { url: 'https://cdn.example.com/v.mp4', cover: 'https://cdn.example.com/v.jpg', meta: { width: 2, note: null }, tag: 'trip' },
        { url: 'https://cdn.example.com/a.pdf' },
      ],
    });
    expect(sent).toEqual(await rendered(sent._id));
    const bare = await send(t, b, chatId, { text: 'plain' });
    expect(bare).toEqual(await rendered(bare._id));
    const noText = await send(t, b, chatId, { files: [{ url: 'https://cdn.example.com/p.png' }] });
    expect(noText).not.toHaveProperty('text');
    expect(noText).toEqual(await rendered(noText._id));
    await api(t, b, 'DELETE', `/chats/${chatId}/messages/${noText._id}`);
    await api(t, b, 'DELETE', `/chats/${chatId}/messages/${bare._id}`);
    const edited = await api(t, a, 'PUT', `/chats/${chatId}/messages/${sent._id}`, { text: 'edited "again"' });
    expect(edited.statusCode).toBe(200);
    const message = edited.json().message;
    expect(message.editedAt).toMatch(ISO_DATE);
    expect(message).toEqual(await rendered(sent._id));
    const one = await api(t, b, 'GET', `/chats/${chatId}`);
    expect(one.json().chat.lastMessage).toEqual(message);
    const list = await api(t, b, 'GET', '/chats');
    const shown = list.json().chats.find((c: { _id: string }) => c._id === chatId);
    expect(shown.lastMessage).toEqual(message);
    // Message pages write the same JSON in their statement too.
    const page = await api(t, b, 'GET', `/chats/${chatId}/messages`);
    expect(page.json().messages[0]).toEqual(message);
  });

  it('moves lastMessage to the newest live message, recomputes activity, and unread leaves the deleted one out', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const first = await send(t, a, chatId, { text: 'first' });
    const second = await send(t, a, chatId, { text: 'second' });
    let view = await api(t, b, 'GET', `/chats/${chatId}`);
    expect(view.json().chat).toMatchObject({ unread: 2, lastMessage: { _id: second._id } });

    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${second._id}`);
    expect(await chatRow(t, chatId)).toMatchObject({ last_message_id: first._id, last_message_at: first.at });
    for (const p of await participantRows(t, chatId)) expect(p.activity_at).toBe(first.at);
    view = await api(t, b, 'GET', `/chats/${chatId}`);
    expect(view.json().chat.lastMessage).toEqual(first);
    expect(view.json().chat.unread).toBe(1);
    const list = await api(t, b, 'GET', '/chats');
    expect(list.json().chats.find((c: any) => c._id === chatId)).toMatchObject({ unread: 1, lastMessage: { _id: first._id } });

    // Deleting the only one left: no last message, activity falls back to the chat's updatedAt.
    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${first._id}`);
    const chat = await chatRow(t, chatId);
    expect(chat).toMatchObject({ last_message_id: null, last_message_at: null });
    for (const p of await participantRows(t, chatId)) expect(p.activity_at).toBe(chat.updated_at);
    view = await api(t, b, 'GET', `/chats/${chatId}`);
    expect(view.json().chat).toMatchObject({ lastMessage: null, unread: 0 });
  });

  it('deleting an older message leaves lastMessage alone', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const first = await send(t, a, chatId, { text: 'first' });
    const second = await send(t, b, chatId, { text: 'second' });
    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${first._id}`);
    expect(await chatRow(t, chatId)).toMatchObject({ last_message_id: second._id, last_message_at: second.at });
  });

  it('deletes the storage objects of its files after commit, but keeps one another message still uses', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const up1 = await upload(t, a, chatId, 'one.png', await png());
    const up2 = await upload(t, a, chatId, 'two.png', await png(10, 10));
    const [url1, url2] = [up1.json().file.url, up2.json().file.url];
    const fileOf = (url: string) => path.join(t.deps.config.storage.kind === 'local' ? t.deps.config.storage.dir : '', t.deps.storage.keyFromUrl(url)!);
    const shared = await send(t, a, chatId, { files: [{ url: url1 }, { url: url2 }] });
    const forwarded = await send(t, a, chatId, { files: [{ url: url2 }] });

    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${shared._id}`);
    const deadline = Date.now() + 3000;
    while (existsSync(fileOf(url1)) && Date.now() < deadline) await settle(50);
    expect(existsSync(fileOf(url1))).toBe(false);
    expect(existsSync(fileOf(url2))).toBe(true);

    await api(t, a, 'DELETE', `/chats/${chatId}/messages/${forwarded._id}`);
    while (existsSync(fileOf(url2)) && Date.now() < deadline + 3000) await settle(50);
    expect(existsSync(fileOf(url2))).toBe(false);
  });

  it('works without a body and answers 400 for a bad socket', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const m1 = await send(t, a, chatId, { text: 'x' });
    const bad = await api(t, a, 'DELETE', `/chats/${chatId}/messages/${m1._id}`, { socket: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'socket' });
    const ok = await api(t, a, 'DELETE', `/chats/${chatId}/messages/${m1._id}`);
    expect(ok.statusCode).toBe(200);
  });

  it('answers 403 to non-participants, 404 for unknown messages and 400 for bad ids', async () => {
    const [a, b, stranger] = [await t.user(), await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const m = await send(t, a, chatId, { text: 'x' });
    expect((await api(t, stranger, 'DELETE', `/chats/${chatId}/messages/${m._id}`)).json().code).toBe('NOT_A_PARTICIPANT');
    const unknown = await api(t, a, 'DELETE', `/chats/${chatId}/messages/ffffffffffffffffffffffff`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('MESSAGE_NOT_FOUND');
    const bad = await api(t, a, 'DELETE', `/chats/${chatId}/messages/nope`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'messageId' });
  });
});
