// GET /chats/:id/files (chats-api.txt, rulings.md 5 and 19): the chat's message files of one media
// type and tag, newest first, paginated, in the spec example's exact shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SQL } from 'drizzle-orm';
import { sql } from '../src/db/client.js';
import { filesPageSql, messagesForViewerSql } from '../src/messages/queries.js';
import { ISO_DATE, OBJECT_ID, startApp, type TestApp } from './helpers/app.js';
import { api, groupChat, oneToOne, send } from './helpers/messages-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const cdn = (name: string) => `https://pub.example.r2.dev/chats/x/${name}`;

describe('GET /chats/:id/files', () => {
  it('lists videos tagged `others` by default, newest first, each as {_id, user, chat, at, message, file: {url, cover?, meta?, _id}}', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const first = await send(t, b, chat.id, {
      files: [
        {
          url: cdn('1000001062.mp4'),
          cover: cdn('thumbnail_.jpg'),
          meta: { mediaType: 'video', fileName: '1000001062.mp4', fileSize: 4467489, duration: 42327 },
        },
      ],
    });
    const second = await send(t, a, chat.id, {
      text: 'two videos and a photo',
      files: [
        {
          url: cdn('video.mp4'),
          cover: cdn('cover.jpg'),
          meta: { data: 'Its just a dummy data', list: ['It', 'can', 'have', 'array', 'too', true, 100], note: 'free-form' },
        },
        { url: cdn('video.mp4') },
        { url: cdn('photo.jpg') },
        { url: cdn('lecture.mp4'), tag: 'lectures' },
      ],
    });

    const res = await api(t, a, 'GET', `/chats/${chat.id}/files`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['files', 'count']);
    expect(body.count).toBe(3);
    // The newest message first (ties of `at` by message, newest first); one message's files in
    // the order sent, as the spec example lists them.
    const [f1, f2] = second.files;
    expect(body.files).toEqual([
      {
        _id: f1._id, user: a.id, chat: chat.id, at: second.at, message: second._id,
        file: { url: cdn('video.mp4'), cover: cdn('cover.jpg'), meta: f1.meta, _id: f1._id },
      },
      { _id: f2._id, user: a.id, chat: chat.id, at: second.at, message: second._id, file: { url: cdn('video.mp4'), _id: f2._id } },
      {
        _id: first.files[0]._id, user: b.id, chat: chat.id, at: first.at, message: first._id,
        file: {
          url: cdn('1000001062.mp4'),
          cover: cdn('thumbnail_.jpg'),
          meta: { mediaType: 'video', fileName: '1000001062.mp4', fileSize: 4467489, duration: 42327 },
          _id: first.files[0]._id,
        },
      },
    ]);
    for (const item of body.files) {
      expect(Object.keys(item)).toEqual(['_id', 'user', 'chat', 'at', 'message', 'file']);
      expect(item.file._id).toBe(item._id);
      expect(item._id).toMatch(OBJECT_ID);
      expect(item.at).toMatch(ISO_DATE);
    }
  });

  it('filters by type and tag', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const m = await send(t, a, chatId, {
      files: [
        { url: cdn('a.jpg'), tag: 'exams' },
        { url: cdn('b.png') },
        { url: cdn('c.pdf'), tag: 'exams' },
        { url: cdn('d.mp3') },
        { url: cdn('e.zip') },
        { url: cdn('f.bin'), meta: { mediaType: 'image' }, tag: 'exams' },
      ],
    });
    const ids = (query: string) =>
      api(t, b, 'GET', `/chats/${chatId}/files?${query}`).then((r) => {
        expect(r.statusCode).toBe(200);
        expect(r.json().count).toBe(r.json().files.length);
        return r.json().files.map((f: any) => f.file.url).sort();
      });
    expect(await ids('type=image&tag=exams')).toEqual([cdn('a.jpg'), cdn('f.bin')]);
    expect(await ids('type=image')).toEqual([cdn('b.png')]);
    expect(await ids('type=document&tag=exams')).toEqual([cdn('c.pdf')]);
    expect(await ids('type=audio')).toEqual([cdn('d.mp3')]);
    expect(await ids('type=other')).toEqual([cdn('e.zip')]);
    expect(await ids('')).toEqual([]);
    expect(await ids('tag=nothing-like-this&type=image')).toEqual([]);
    expect(m.files).toHaveLength(6);
  });

  it('paginates with limit and page; count is the total', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await send(t, a, chatId, { files: [{ url: cdn(`v${i}.mp4`) }] }));
    const page = (q: string) => api(t, a, 'GET', `/chats/${chatId}/files?${q}`).then((r) => r.json());
    const p1 = await page('limit=2&page=1');
    const p2 = await page('limit=2&page=2');
    const p3 = await page('limit=2&page=3');
    const p4 = await page('limit=2&page=4');
    expect([p1.count, p2.count, p3.count, p4.count]).toEqual([5, 5, 5, 5]);
    expect([...p1.files, ...p2.files, ...p3.files].map((f: any) => f.message)).toEqual(sent.map((m) => m._id).reverse());
    expect(p4.files).toEqual([]);
    expect((await page('')).files).toHaveLength(5);
  });

  it('leaves out the files of deleted messages', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const kept = await send(t, a, chatId, { files: [{ url: cdn('kept.mp4') }] });
    const gone = await send(t, a, chatId, { files: [{ url: cdn('gone.mp4') }] });
    expect((await api(t, a, 'DELETE', `/chats/${chatId}/messages/${gone._id}`)).statusCode).toBe(200);
    const res = await api(t, a, 'GET', `/chats/${chatId}/files`);
    expect(res.json()).toMatchObject({ count: 1, files: [{ message: kept._id }] });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['page=0', 'page'],
    ['page=x', 'page'],
    ['type=videos', 'type'],
    ['tag=', 'tag'],
  ])('answers 400 for %s', async (query, field) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await api(t, a, 'GET', `/chats/${chatId}/files?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('is for participants only (403) of existing chats (404)', async () => {
    const [a, b, stranger] = [await t.user(), await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await api(t, stranger, 'GET', `/chats/${chatId}/files`);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
    const missing = await api(t, a, 'GET', '/chats/acacacacacacacacacacacac/files');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CHAT_NOT_FOUND');
  });

  it('reads its page, and a page of messages, in index order (no sort)', async () => {
    if (t.kind !== 'postgres') return;
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const m = await send(t, a, chatId, { files: [{ url: cdn('v.mp4') }] });
    const db = t.deps.database.db;
    const plan = (query: SQL) =>
      db.transaction(async (tx) => {
        // A near-empty table: forbid the sequential scan so the plan shows what the index gives.
        await tx.execute(sql`set local enable_seqscan = off`);
        const result: any = await tx.execute(sql`explain ${query}`);
        return (Array.isArray(result) ? result : result.rows).map((r: any) => r['QUERY PLAN']).join('\n');
      });
    const files = await plan(filesPageSql({ chatId, mediaType: 'video', tag: 'others' }, 10, 10));
    expect(files).toContain('message_files_chat_type_tag_idx');
    expect(files).not.toMatch(/\bSort\b/);
    const messages = await plan(messagesForViewerSql(chatId, a.id, 30, m._id));
    expect(messages).toContain('messages_chat_at_live_idx');
    expect(messages).not.toMatch(/\bSort\b/);
  });
});
