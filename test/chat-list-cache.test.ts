// The chat list cache (src/chats/list-cache.ts; bench/RESULTS.md P1): the class and its race, GET
// /chats served from memory with the same bytes as computed, every kind of change showing in the
// next GET /chats, invalidations between nodes through Redis (in process, and two real nodes), and
// the cache turned off.
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import postgres from 'postgres';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ChatListCache, KEYS_PER_USER, PENDING_MAX, postedMessageOf } from '../src/chats/list-cache.js';
import { patchList } from '../src/chats/list-patch.js';
import { sql } from '../src/db/client.js';
import { contactsOf } from '../src/realtime/queries.js';
import { channelOf, CHAT_LISTS_CHANNEL, createSocketAdapter } from '../src/realtime/redis.js';
import { userRoom } from '../src/realtime/server.js';
import { transaction } from '../src/shared/effects.js';
import { createChat, follow, group, multipart, oneToOne, postMessage, waitFor } from './chats-fixtures.js';
import { settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { startNode, type NodeProcess } from './helpers/node-process.js';
import { startRedis, type RunningServer } from './helpers/servers.js';

const JSON_TYPE = 'application/json; charset=utf-8';

describe('ChatListCache', () => {
  const A = 'a'.repeat(24);
  const B = 'b'.repeat(24);
  const C = 'c'.repeat(24);
  const cache = (options: Partial<{ maxUsers: number; ttlMs: number; now: () => number }> = {}) =>
    new ChatListCache({ maxUsers: 100, ttlMs: 60_000, ...options });

  it('keys a query by limit, page, group and meetMeOnly; a search is never cached', () => {
    const c = cache();
    expect(c.keyOf({ limit: 10, page: 1 })).toBe(c.keyOf({ limit: 10, page: 1, meetMeOnly: false, search: '  ' }));
    const keys = [
      c.keyOf({ limit: 10, page: 1 }),
      c.keyOf({ limit: 20, page: 1 }),
      c.keyOf({ limit: 10, page: 2 }),
      c.keyOf({ limit: 10, page: 1, group: true }),
      c.keyOf({ limit: 10, page: 1, group: false }),
      c.keyOf({ limit: 10, page: 1, group: false, meetMeOnly: true }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(c.keyOf({ limit: 10, page: 1, search: 'max' })).toBeNull();
  });

  it('stores a fill and serves it; another user or key is a miss', () => {
    const c = cache();
    const fill = c.beginFill(A);
    expect(c.set(fill, 'k', '{"chats":[],"count":0}')).toBe(true);
    expect(c.get(A, 'k')).toBe('{"chats":[],"count":0}');
    expect(c.get(A, 'other')).toBeUndefined();
    expect(c.get(B, 'k')).toBeUndefined();
  });

  it('race: a fill begun before an invalidation of its user stores nothing; one begun after it does', () => {
    const c = cache();
    const early = c.beginFill(A);
    const otherUser = c.beginFill(B);
    c.invalidate([A]);
    const late = c.beginFill(A);
    // The late fill read after the change; the early one may have read before it.
    expect(c.set(late, 'k', 'new')).toBe(true);
    expect(c.set(early, 'k', 'old')).toBe(false);
    expect(c.get(A, 'k')).toBe('new');
    // Invalidating A does not touch B's fill.
    expect(c.set(otherUser, 'k', 'b')).toBe(true);
    expect(c.get(B, 'k')).toBe('b');
  });

  it('race: two fills running across an invalidation both store nothing; an entry cached before it is dropped', () => {
    const c = cache();
    c.set(c.beginFill(A), 'k1', 'cached');
    const first = c.beginFill(A);
    const second = c.beginFill(A);
    c.invalidate([A]);
    expect(c.get(A, 'k1')).toBeUndefined();
    expect(c.set(second, 'k2', 'stale')).toBe(false);
    expect(c.set(first, 'k3', 'stale')).toBe(false);
    expect(c.get(A, 'k2')).toBeUndefined();
    expect(c.get(A, 'k3')).toBeUndefined();
  });

  it('keeps nothing for a user once no fill runs and no entry is cached', () => {
    const c = cache();
    c.invalidate([A, B]);
    expect(c.size).toBe(0);
    const stale = c.beginFill(A);
    c.invalidate([A]);
    expect(c.size).toBe(1);
    c.set(stale, 'k', 'x');
    expect(c.size).toBe(0);
    c.cancel(c.beginFill(B));
    expect(c.size).toBe(0);
    c.set(c.beginFill(C), 'k', 'x');
    expect(c.size).toBe(1);
    c.invalidate([C]);
    expect(c.size).toBe(0);
  });

  it('drops the least recently used user past maxUsers (a hit counts as a use); a running fill of a dropped user stores nothing', () => {
    const c = cache({ maxUsers: 2 });
    c.set(c.beginFill(A), 'k', 'a');
    c.set(c.beginFill(B), 'k', 'b');
    expect(c.get(A, 'k')).toBe('a');
    c.set(c.beginFill(C), 'k', 'c');
    expect(c.size).toBe(2);
    expect(c.get(B, 'k')).toBeUndefined();
    expect(c.get(A, 'k')).toBe('a');
    expect(c.get(C, 'k')).toBe('c');

    // Now A then C were used last: B's new fill pushes A out, two more fills push out C, then B.
    const running = c.beginFill(B);
    expect(c.get(A, 'k')).toBeUndefined();
    const d = c.beginFill('d'.repeat(24));
    const e = c.beginFill('e'.repeat(24));
    expect(c.size).toBe(2);
    expect(c.set(running, 'k', 'b')).toBe(false);
    expect(c.get(B, 'k')).toBeUndefined();
    c.cancel(d);
    c.cancel(e);
    expect(c.size).toBe(0);
  });

  it(`keeps at most ${KEYS_PER_USER} queries per user, the least recently used dropped first`, () => {
    const c = cache();
    for (let i = 0; i < KEYS_PER_USER; i++) c.set(c.beginFill(A), `k${i}`, `v${i}`);
    expect(c.get(A, 'k0')).toBe('v0');
    c.set(c.beginFill(A), 'extra', 'x');
    expect(c.get(A, 'k1')).toBeUndefined();
    expect(c.get(A, 'k0')).toBe('v0');
    expect(c.get(A, 'extra')).toBe('x');
  });

  it('forgets an entry older than the TTL', () => {
    let now = 1_000;
    const c = cache({ ttlMs: 500, now: () => now });
    c.set(c.beginFill(A), 'k', 'x');
    now += 499;
    expect(c.get(A, 'k')).toBe('x');
    now += 1;
    expect(c.get(A, 'k')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('maxUsers 0 turns it off: nothing is filled or served', () => {
    const c = cache({ maxUsers: 0 });
    expect(c.enabled).toBe(false);
    expect(c.beginFill(A)).toBeNull();
    expect(c.set(c.beginFill(A), 'k', 'x')).toBe(false);
    expect(c.get(A, 'k')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('suspended (invalidations may be missed): drops everything, serves and stores nothing, also not fills begun before; resumes empty', () => {
    const c = cache();
    c.set(c.beginFill(A), 'k', 'x');
    const running = c.beginFill(B);
    c.suspend();
    expect(c.get(A, 'k')).toBeUndefined();
    expect(c.set(running, 'k', 'b')).toBe(false);
    expect(c.beginFill(A)).toBeNull();
    const beforeResume = c.beginFill(C);
    expect(beforeResume).toBeNull();
    c.resume();
    expect(c.size).toBe(0);
    expect(c.set(c.beginFill(A), 'k', 'again')).toBe(true);
    expect(c.get(A, 'k')).toBe('again');
  });

  it('invalidate() tells the other nodes (each user once); drop() is what their messages do here', () => {
    const c = cache();
    const published: string[][] = [];
    c.onInvalidate((ids, kind) => published.push(kind === 'stale' ? ids : ['presence', ...ids]));
    c.set(c.beginFill(A), 'k', 'x');
    c.set(c.beginFill(B), 'k', 'x');
    c.invalidate([A, A, C]);
    expect(published).toEqual([[A, C]]);
    expect(c.get(A, 'k')).toBeUndefined();
    c.drop([B]);
    expect(c.get(B, 'k')).toBeUndefined();
    expect(published).toEqual([[A, C]]);
    c.invalidate([]);
    expect(published).toHaveLength(1);
    // A user's own presence: their lists kept here, for a presence read; told to the other nodes.
    c.set(c.beginFill(A), 'k', 'x');
    c.presenceChanged([A, A]);
    expect(published).toEqual([[A, C], ['presence', A]]);
    expect(c.lookup(A, 'k')).toMatchObject({ json: 'x', presence: true });
  });

  describe('heard(): an event to users', () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const posted = (id: string, ms: number, chat = 'chat1') => ({
      message: { _id: id, chat, at: at(ms), user: { _id: B, name: 'B', username: 'b' }, files: [], text: id },
    });
    /** A first page of chat1 (order key 1,000) and chat2 (900). */
    const firstPage = { ids: ['chat1', 'chat2'], keys: [1_000, 900] };
    const pendingOf = (c: ChatListCache, key: string) => c.lookup(A, key)?.pending.map((p) => p.id);

    it('a message-created is queued on first pages (for a chat in them or not), in the order heard; other pages are dropped', () => {
      const c = cache();
      c.set(c.beginFill(A), 'first', 'page', firstPage);
      c.set(c.beginFill(A), 'later', 'page2', null);
      c.heard([A], 'message-created', posted('m1', 1_001));
      c.heard([A], 'message-created', posted('m2', 950, 'chat3'));
      expect(c.lookup(A, 'later')).toBeUndefined();
      expect(pendingOf(c, 'first')).toEqual(['m1', 'm2']);
      expect(c.lookup(A, 'first')!.json).toBe('page');
      // get() serves only an answer with nothing heard since.
      expect(c.get(A, 'first')).toBeUndefined();
      c.set(c.beginFill(A), 'first', 'patched', { ids: ['chat1', 'chat3', 'chat2'], keys: [1_001, 950, 900] });
      expect(c.get(A, 'first')).toBe('patched');
    });

    it('drops the entry for a message no newer than its chat\'s key in the page (shown already, or heard out of order)', () => {
      const c = cache();
      for (const ms of [1_000, 999]) {
        c.set(c.beginFill(A), 'first', 'page', firstPage);
        c.heard([A], 'message-created', posted('m', ms));
        expect(c.lookup(A, 'first')).toBeUndefined();
      }
      c.set(c.beginFill(A), 'first', 'page', firstPage);
      c.heard([A], 'message-created', posted('m', 901, 'chat2'));
      expect(pendingOf(c, 'first')).toEqual(['m']);
      expect(c.size).toBe(1);
    });

    it(`keeps at most ${PENDING_MAX} queued messages; past them the entry is dropped`, () => {
      const c = cache();
      c.set(c.beginFill(A), 'first', 'page', firstPage);
      for (let i = 1; i <= PENDING_MAX; i++) c.heard([A], 'message-created', posted(`m${i}`, 1_000 + i));
      expect(c.lookup(A, 'first')!.pending).toHaveLength(PENDING_MAX);
      c.heard([A], 'message-created', posted('one more', 2_000));
      expect(c.lookup(A, 'first')).toBeUndefined();
    });

    it('a fill running across a message stores nothing (it may or may not have read it)', () => {
      const c = cache();
      const running = c.beginFill(A);
      c.heard([A], 'message-created', posted('m', 5_000));
      expect(c.set(running, 'first', 'page', firstPage)).toBe(false);
      expect(c.lookup(A, 'first')).toBeUndefined();
    });

    it('a presence marks every entry for a presence read; a fill running across it stores for one', () => {
      const c = cache();
      c.set(c.beginFill(A), 'first', 'page', firstPage);
      c.heard([A], 'message-created', posted('m1', 1_001));
      c.set(c.beginFill(A), 'later', 'page2', null);
      const running = c.beginFill(A);
      c.heard([A], 'presence', { user: B, isOnline: true });
      expect(c.set(running, 'other', 'x')).toBe(true);
      expect(c.lookup(A, 'other')).toMatchObject({ json: 'x', presence: true });
      expect(c.set(c.beginFill(A), 'other', 'y')).toBe(true);
      expect(c.get(A, 'other')).toBe('y');
      expect(c.lookup(A, 'first')).toMatchObject({ json: 'page', presence: true });
      expect(c.lookup(A, 'later')).toMatchObject({ json: 'page2', presence: true, pending: [] });
      expect(pendingOf(c, 'first')).toEqual(['m1']);
      expect(c.get(A, 'later')).toBeUndefined();
    });

    it('any other event, or a message-created without a message, drops the lists; typing touches nothing', () => {
      const c = cache();
      for (const [event, payload] of [
        ['chat-updated', { chat: {} }],
        ['message-updated', posted('m', 2_000)],
        ['message-created', { message: {} }],
        ['message-created', null],
      ] as const) {
        c.set(c.beginFill(A), 'first', 'page', firstPage);
        c.heard([A], event, payload);
        expect(c.lookup(A, 'first')).toBeUndefined();
      }
      c.set(c.beginFill(A), 'first', 'page', firstPage);
      const running = c.beginFill(A);
      c.heard([A], 'typing', { chat: 'x', user: B });
      expect(c.get(A, 'first')).toBe('page');
      expect(c.set(running, 'other', 'x')).toBe(true);
    });
  });
});

let t: TestApp;
/** The same service with the cache off, on the same database. */
let off: TestApp;
beforeAll(async () => {
  [t, off] = await Promise.all([startApp(), startApp({ CHAT_LIST_CACHE_USERS: '0' })]);
});
afterAll(async () => {
  await Promise.all([t?.close(), off?.close()]);
});

const FIRST_PAGE = { limit: 10, page: 1 };

function get(app: TestApp, user: TestUser, query = '') {
  return app.app.inject({ url: `/chats${query}`, headers: user.auth });
}

async function list(user: TestUser, query = '') {
  const res = await get(t, user, query);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { chats: any[]; count: number };
}

/** GET /chats?… and checks that the answer is now cached; returns it parsed. */
async function prime(user: TestUser, query = '', filter: Record<string, unknown> = FIRST_PAGE) {
  const res = await get(t, user, query);
  expect(res.statusCode, res.body).toBe(200);
  const key = t.deps.chatLists.keyOf(filter as { limit: number; page: number })!;
  expect(t.deps.chatLists.get(user.id, key)).toBe(res.body);
  return res.json() as { chats: any[]; count: number };
}

/** prime(), once no invalidation still on its way (a presence announcement) drops the answer. */
async function primeSettled(user: TestUser) {
  const key = t.deps.chatLists.keyOf(FIRST_PAGE as { limit: number; page: number })!;
  await waitFor(async () => {
    const res = await get(t, user, '');
    await settle(100);
    return t.deps.chatLists.get(user.id, key) === res.body;
  });
  return prime(user);
}

const chatIn = (answer: { chats: any[] }, chatId: string) => answer.chats.find((c) => c._id === chatId);
const participantOf = (chat: any, user: TestUser) => chat.participants.find((p: any) => p.user._id === user.id);

function api(user: TestUser, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  return t.app.inject({ method, url, headers: user.auth, ...(payload ? { payload } : {}) });
}

describe('GET /chats from the cache', () => {
  it('a hit answers the very bytes and content type of the miss, and of the service with the cache off', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await group(t, a, [b, c]);
    await postMessage(t, b, chat._id, 'bytes');
    await oneToOne(t, a, c);

    const miss = await get(t, a);
    const hit = await get(t, a);
    const uncached = await get(off, a);
    for (const res of [miss, hit, uncached]) {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(JSON_TYPE);
    }
    expect(t.deps.chatLists.get(a.id, t.deps.chatLists.keyOf(FIRST_PAGE)!)).toBe(miss.body);
    expect(hit.body).toBe(miss.body);
    expect(hit.rawPayload.equals(uncached.rawPayload)).toBe(true);
    expect(hit.headers['content-length']).toBe(String(Buffer.byteLength(miss.body)));

    // The shape the response schema defines (a string sent twice-serialized would be a JSON string).
    const body = hit.json();
    expect(Object.keys(body).sort()).toEqual(['chats', 'count']);
    expect(body.count).toBe(2);
    expect(body.chats.map((x: any) => x._id)).toContain(chat._id);
    expect(chatIn(body, chat._id).lastMessage.text).toBe('bytes');
  });

  it('serves a repeated query from memory until an invalidation (a silent write shows only after it)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await group(t, a, [b], { name: 'Before' });
    expect(chatIn(await prime(b), chat._id).name).toBe('Before');
    // Written behind the service's back: no event, no invalidation.
    await t.deps.database.db.execute(sql`update chats set name = 'Behind' where id = ${chat._id}`);
    expect(chatIn(await list(b), chat._id).name).toBe('Before');
    expect(chatIn((await (await get(off, b)).json()), chat._id).name).toBe('Behind');
    t.deps.chatLists.invalidate([b.id]);
    expect(chatIn(await list(b), chat._id).name).toBe('Behind');
  });

  it('keeps each query apart, and never caches a search', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await group(t, a, [b], { name: 'Searchable one' });
    await prime(b);
    await prime(b, '?group=true&limit=5', { limit: 5, page: 1, group: true });
    const search = await get(t, b, '?search=searchable');
    expect(search.json().count).toBe(1);
    expect(t.deps.chatLists.get(b.id, t.deps.chatLists.keyOf(FIRST_PAGE)!)).toBeDefined();
    await t.deps.database.db.execute(sql`update chats set name = 'Searchable two' where id = ${chat._id}`);
    expect(chatIn((await get(t, b, '?search=searchable')).json(), chat._id).name).toBe('Searchable two');
    expect(chatIn(await list(b, '?group=true&limit=5'), chat._id).name).toBe('Searchable one');
    t.deps.chatLists.invalidate([b.id]);
    expect(chatIn(await list(b, '?group=true&limit=5'), chat._id).name).toBe('Searchable two');
    expect(chatIn(await list(b), chat._id).name).toBe('Searchable two');
  });
});

describe('every change shows in the next GET /chats', () => {
  it('a message posted by someone else', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    expect(chatIn(await prime(b), chat._id).lastMessage).toBeNull();
    await postMessage(t, a, chat._id, 'new one');
    const shown = chatIn(await list(b), chat._id);
    expect(shown.lastMessage.text).toBe('new one');
    expect(shown.unread).toBe(1);
  });

  it('a message edited', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    const message = await postMessage(t, a, chat._id, 'first');
    expect(chatIn(await prime(b), chat._id).lastMessage.text).toBe('first');
    expect((await api(a, 'PUT', `/chats/${chat._id}/messages/${message._id}`, { text: 'edited' })).statusCode).toBe(200);
    const shown = chatIn(await list(b), chat._id);
    expect(shown.lastMessage.text).toBe('edited');
    expect(shown.lastMessage.editedAt).toBeDefined();
  });

  it('a message deleted', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    const message = await postMessage(t, a, chat._id, 'gone soon');
    expect(chatIn(await prime(b), chat._id).unread).toBe(1);
    expect((await api(a, 'DELETE', `/chats/${chat._id}/messages/${message._id}`)).statusCode).toBe(200);
    const shown = chatIn(await list(b), chat._id);
    expect(shown.lastMessage).toBeNull();
    expect(shown.unread).toBe(0);
  });

  it('a chat renamed', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await group(t, a, [b], { name: 'Old name' });
    expect(chatIn(await prime(b), chat._id).name).toBe('Old name');
    const form = multipart({ name: 'New name' });
    const res = await t.app.inject({ method: 'PUT', url: `/chats/${chat._id}`, headers: { ...a.auth, ...form.headers }, payload: form.payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(chatIn(await list(b), chat._id).name).toBe('New name');
  });

  it('a participant added', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await group(t, a, [b]);
    await follow(t, a, c);
    expect(chatIn(await prime(b), chat._id).participantsCount).toBe(2);
    await prime(c, '', FIRST_PAGE);
    const res = await api(a, 'POST', `/chats/${chat._id}/participants/multiple`, { participants: [c.id] });
    expect(res.statusCode, res.body).toBe(200);
    const shown = chatIn(await list(b), chat._id);
    expect(shown.participantsCount).toBe(3);
    expect(participantOf(shown, c)).toBeDefined();
    expect(chatIn(await list(c), chat._id)).toBeDefined();
  });

  it('a participant removed', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await group(t, a, [b, c]);
    expect(chatIn(await prime(b), chat._id).participantsCount).toBe(3);
    expect((await prime(c)).count).toBe(1);
    expect((await api(a, 'DELETE', `/chats/${chat._id}/participants/${c.id}`)).statusCode).toBe(200);
    const shown = chatIn(await list(b), chat._id);
    expect(shown.participantsCount).toBe(2);
    expect(participantOf(shown, c)).toBeUndefined();
    expect(await list(c)).toEqual({ chats: [], count: 0 });
  });

  it('an admin right granted', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await group(t, a, [b, c]);
    expect(chatIn(await prime(b), chat._id).areYouAdmin).toBe(false);
    expect(participantOf(chatIn(await prime(c), chat._id), b).isAdmin).toBeUndefined();
    expect((await api(a, 'POST', `/chats/${chat._id}/participants/${b.id}/admin`)).statusCode).toBe(200);
    expect(chatIn(await list(b), chat._id).areYouAdmin).toBe(true);
    expect(participantOf(chatIn(await list(c), chat._id), b).isAdmin).toBe(true);
  });

  it('a read mark, made with the only socket of the reader as `socket` (no socket gets the event)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    await postMessage(t, a, chat._id, 'unread');
    const socket = await t.socket(b);
    // b's presence announcement, which runs after the connect, drops both lists: prime them after it.
    const before = chatIn(await primeSettled(b), chat._id);
    expect(before.unread).toBe(1);
    // The sender sees the reader's lastReadAt in participants[] but gets no event for it.
    const senderBefore = chatIn(await primeSettled(a), chat._id);
    const res = await api(b, 'POST', `/chats/${chat._id}/read`, { socket: socket.id });
    expect(res.statusCode).toBe(200);
    const after = chatIn(await list(b), chat._id);
    expect(after.unread).toBe(0);
    expect(participantOf(after, b).lastReadAt > participantOf(before, b).lastReadAt).toBe(true);
    const senderAfter = chatIn(await list(a), chat._id);
    expect(participantOf(senderAfter, b).lastReadAt).toBe(participantOf(after, b).lastReadAt);
    expect(participantOf(senderAfter, b).lastReadAt > participantOf(senderBefore, b).lastReadAt).toBe(true);
    socket.disconnect();
  });

  it("the other party's profile renamed (a write with no event: effects.staleChatLists of the user and their contacts)", async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    const shared = await group(t, c, [a]);
    expect(chatIn(await prime(b), chat._id).name).toBe(a.name);
    expect(participantOf(chatIn(await prime(c), shared._id), a).user.name).toBe(a.name);
    await transaction(t.deps, async (tx, effects) => {
      await tx.execute(sql`update users set name = 'Renamed Person' where id = ${a.id}`);
      // What a profile write must do (no route changes a profile yet): its users' lists are stale.
      effects.staleChatLists([a.id, ...(await contactsOf(tx, a.id))]);
    });
    const shown = chatIn(await list(b), chat._id);
    expect(shown.name).toBe('Renamed Person');
    expect(shown.creator.name).toBe('Renamed Person');
    expect(participantOf(chatIn(await list(c), shared._id), a).user.name).toBe('Renamed Person');
  });

  it('the other party coming online, then going offline: the cached list is patched, with the bytes of a list read again', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, b, a); // its `user` is a
    await group(t, b, [a]);
    expect(participantOf(chatIn(await prime(b), chat._id), a).user.isOnline).toBe(false);
    const patched = t.deps.chatLists.patched;
    const socket: Socket = await t.socket(a);
    const onlineIs = (value: boolean) => async () => participantOf(chatIn(await list(b), chat._id), a).user.isOnline === value;
    await waitFor(onlineIs(true), 2000);
    expect(t.deps.chatLists.patched).toBe(patched + 1);
    const shown = await get(t, b);
    for (const c of shown.json().chats) {
      expect(participantOf(c, a).user.isOnline).toBe(true);
      expect(participantOf(c, b).user.isOnline).toBe(false);
    }
    expect(shown.json().chats.find((c: any) => c._id === chat._id).user.isOnline).toBe(true);
    t.deps.chatLists.invalidate([b.id]);
    expect((await get(t, b)).body).toBe(shown.body);
    socket.disconnect();
    await waitFor(onlineIs(false), 2000);
    expect(t.deps.chatLists.patched).toBe(patched + 2);
  });

  it('the user coming online: their own cached list is patched (no event goes to them)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    expect(participantOf(chatIn(await prime(b), chat._id), b).user.isOnline).toBe(false);
    const patched = t.deps.chatLists.patched;
    const socket: Socket = await t.socket(b);
    try {
      await waitFor(async () => participantOf(chatIn(await list(b), chat._id), b).user.isOnline === true, 2000);
      expect(t.deps.chatLists.patched).toBe(patched + 1);
    } finally {
      socket.disconnect();
    }
  });

  it('a chat deleted', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await group(t, a, [b]);
    expect((await prime(b)).count).toBe(1);
    expect((await api(a, 'DELETE', `/chats/${chat._id}`)).statusCode).toBe(200);
    expect(await list(b)).toEqual({ chats: [], count: 0 });
  });

  it('a join request accepted', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    const chat = await group(t, a, [b], { restricted: true, category: 'Music' });
    const request = await api(c, 'POST', `/chats/${chat._id}/requests`);
    expect(request.statusCode, request.body).toBe(201);
    expect(await prime(c)).toEqual({ chats: [], count: 0 });
    expect(chatIn(await prime(b), chat._id).participantsCount).toBe(2);
    const decided = await api(a, 'POST', `/chats/${chat._id}/requests/${request.json().request._id}/status`, { status: 'accepted' });
    expect(decided.statusCode, decided.body).toBe(200);
    const mine = await list(c);
    expect(mine.count).toBe(1);
    expect(mine.chats[0]._id).toBe(chat._id);
    expect(chatIn(await list(b), chat._id).participantsCount).toBe(3);
  });
});

describe('a message patches cached first pages instead of dropping them', () => {
  /** A small deterministic generator (a failure replays the same steps). */
  function random(seed: number) {
    let state = seed;
    return (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
  }

  /** GET /chats{query} on `app` and on the cache-off app: the same bytes, returned parsed. */
  async function sameAsStatement(app: TestApp, user: TestUser, query: string) {
    const [cached, computed] = [await get(app, user, query), await get(off, user, query)];
    expect(cached.statusCode, cached.body).toBe(200);
    expect(cached.body, `${user.username} GET /chats${query}`).toBe(computed.body);
    return cached.json() as { chats: any[]; count: number };
  }

  it('random messages (texts, files), read marks and edits in one-to-one and group chats: every answer is the statement\'s, most of them patched', async () => {
    const people = [await t.user(), await t.user(), await t.user(), await t.user(), await t.user()];
    const [a, b, c, d, e] = people;
    const chats: { id: string; members: TestUser[] }[] = [];
    for (const [x, y] of [[a, b], [a, c], [b, c], [a, d], [c, e], [a, e]]) {
      chats.push({ id: (await oneToOne(t, x, y))._id, members: [x, y] });
    }
    for (const [creator, ...members] of [[a, b, c, d], [b, a, e], [c, a, b, d, e], [d, a], [e, b, c]]) {
      chats.push({ id: (await group(t, creator, members))._id, members: [creator, ...members] });
    }
    // a is in 9 chats: the first page of 4 leaves some out, the groups filter others.
    const queries = ['', '?limit=4', '?group=true&limit=3', '?meetMeOnly=true&limit=3', '?limit=4&page=2'];
    const next = random(20261127);
    const patchedBefore = t.deps.chatLists.patched;
    let lastMessage: { chat: string; id: string; sender: TestUser } | null = null;
    for (let step = 0; step < 30; step++) {
      const chat = chats[next(chats.length)];
      const sender = chat.members[next(chat.members.length)];
      const what = next(10);
      if (what < 7) {
        const message = await postMessage(t, sender, chat.id, `step ${step}`);
        lastMessage = { chat: chat.id, id: message._id, sender };
      } else if (what === 7) {
        const res = await api(sender, 'POST', `/chats/${chat.id}/messages`, {
          text: `files ${step}`,
          files: [
            { url: `https://cdn.example.com/x/${step}.jpg`, cover: 'https://cdn.example.com/x/c.jpg', meta: { b: 1, a: null, '10': 'x' }, tag: 'exams' },
            { url: `https://cdn.example.com/x/${step}.pdf` },
          ],
        });
        expect(res.statusCode, res.body).toBe(201);
      } else if (what === 8) {
        expect((await api(sender, 'POST', `/chats/${chat.id}/read`)).statusCode).toBe(200);
      } else if (lastMessage) {
        const res = await api(lastMessage.sender, 'PUT', `/chats/${lastMessage.chat}/messages/${lastMessage.id}`, { text: `edited ${step}` });
        expect(res.statusCode, res.body).toBe(200);
      }
      for (const user of people) for (const query of queries) await sameAsStatement(t, user, query);
    }
    // Each message after the first GETs is seen by 2-5 members' first pages.
    expect(t.deps.chatLists.patched - patchedBefore).toBeGreaterThan(30);
  }, 90_000); // ~13 s alone on PGlite; the suite runs both projects side by side on two cores

  it('a chat moving into a first page from below is read alone; a later page, and a chat above ACTIVITY_INLINE_MAX, are read again', async () => {
    const small = await startApp({ ACTIVITY_INLINE_MAX: '3' });
    try {
      const [a, b, c, d] = [await small.user(), await small.user(), await small.user(), await small.user()];
      const quiet = await group(small, a, [b]);
      const large = await group(small, a, [b, c, d]);
      const pair = await oneToOne(small, a, b);
      const queries = ['?limit=2', '?limit=2&page=2', '', '?group=false'];
      for (const query of queries) await sameAsStatement(small, b, query);
      const patched = small.deps.chatLists.patched;
      await postMessage(small, a, quiet._id, 'into the chat below the first page of 2');
      expect(small.deps.chatLists.lookup(b.id, small.deps.chatLists.keyOf({ limit: 2, page: 2 })!)).toBeUndefined();
      expect((await sameAsStatement(small, b, '?limit=2')).chats.map((chat) => chat._id)).toEqual([quiet._id, pair._id]);
      expect((await sameAsStatement(small, b, '')).chats[0]._id).toBe(quiet._id);
      // The one-to-ones only: the group read, and left out.
      expect((await sameAsStatement(small, b, '?group=false')).chats.map((chat) => chat._id)).toEqual([pair._id]);
      expect(small.deps.chatLists.patched).toBe(patched + 3);
      expect((await sameAsStatement(small, b, '?limit=2&page=2')).chats.map((chat) => chat._id)).toEqual([large._id]);

      // The large group's order copies are rewritten after the commit: the list is read again,
      // with the chat first for the sender at once.
      for (const query of queries) await sameAsStatement(small, b, query);
      await postMessage(small, b, large._id, 'into the large group');
      expect((await sameAsStatement(small, b, '')).chats[0]._id).toBe(large._id);
      expect(small.deps.chatLists.patched).toBe(patched + 3);
      await postMessage(small, a, pair._id, 'into the pair');
      expect((await sameAsStatement(small, b, '')).chats[0]._id).toBe(pair._id);
      expect(small.deps.chatLists.patched).toBe(patched + 4);
    } finally {
      await small.close();
    }
  });

  it('a message heard while a patch reads the chats below is left to the next patch (the patch applies what was queued when it began)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const first = await group(t, a, [b]);
    const second = await group(t, a, [b]);
    const top = await oneToOne(t, a, b);
    expect((await sameAsStatement(t, b, '?limit=1')).chats[0]._id).toBe(top._id);
    const key = t.deps.chatLists.keyOf({ limit: 1, page: 1 })!;
    // Written through the cache-off app: heard here only when the test says so.
    const one = await postMessage(off, a, first._id, 'one');
    const two = await postMessage(off, a, second._id, 'two');
    t.deps.chatLists.heard([a.id, b.id], 'message-created', { message: one });
    const cached = t.deps.chatLists.lookup(b.id, key)!;
    const patching = patchList(t.deps, b.id, { limit: 1, page: 1 }, cached, (answer) => JSON.stringify(answer));
    // The patch is reading `first` now; `two` arrives meanwhile, into another chat below.
    t.deps.chatLists.heard([a.id, b.id], 'message-created', { message: two });
    const patched = await patching;
    expect(JSON.parse(patched!.json).chats.map((chat: any) => chat._id)).toEqual([first._id]);
    expect(patched!.order).toEqual({ ids: [first._id], keys: [Date.parse(one.at)] });
    expect(t.deps.chatLists.lookup(b.id, key)!.pending.map((p) => p.id)).toEqual([one._id, two._id]);
    expect((await sameAsStatement(t, b, '?limit=1')).chats[0]._id).toBe(second._id);
  });

  it('unread stops at UNREAD_CAP in a patched list as in the statement', async () => {
    const [capped, cappedOff] = await Promise.all([
      startApp({ UNREAD_CAP: '2' }),
      startApp({ UNREAD_CAP: '2', CHAT_LIST_CACHE_USERS: '0' }),
    ]);
    try {
      const [a, b] = [await capped.user(), await capped.user()];
      const chat = await oneToOne(capped, a, b);
      expect((await get(capped, b)).statusCode).toBe(200);
      const patched = capped.deps.chatLists.patched;
      for (const text of ['one', 'two', 'three']) await postMessage(capped, a, chat._id, text);
      const [cached, computed] = [await get(capped, b), await get(cappedOff, b)];
      expect(cached.body).toBe(computed.body);
      expect(chatIn(cached.json(), chat._id).unread).toBe(2);
      expect(capped.deps.chatLists.patched).toBe(patched + 1);
    } finally {
      await Promise.all([capped.close(), cappedOff.close()]);
    }
  });

  it('a moved chat whose order key ties with another chat\'s is read again (the ids\' order is the database\'s)', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const older = await group(t, a, [b]);
    const newer = await group(t, a, [b]);
    await sameAsStatement(t, b, '');
    const key = t.deps.chatLists.keyOf(FIRST_PAGE)!;
    const cached = t.deps.chatLists.lookup(b.id, key)!;
    const newerKey = cached.order!.keys[cached.order!.ids.indexOf(newer._id)];
    // A message into the older chat, at the newer chat's key, then 1 ms later.
    const message = await postMessage(off, a, older._id, 'tie');
    const patchAt = (at: number) =>
      patchList(t.deps, b.id, FIRST_PAGE, { ...cached, pending: [postedMessageOf({ message: { ...message, at: new Date(at).toISOString() } })!] }, (answer) =>
        JSON.stringify(answer),
      );
    expect(await patchAt(newerKey)).toBeNull();
    const after = await patchAt(newerKey + 1);
    expect(after!.order!.ids.slice(0, 2)).toEqual([older._id, newer._id]);
  });

  it('the sender\'s own list: unread 0 and its read mark at the message; a message of theirs never counts as unread', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chat = await oneToOne(t, a, b);
    await postMessage(t, b, chat._id, 'one');
    await postMessage(t, b, chat._id, 'two');
    expect(chatIn(await sameAsStatement(t, a, ''), chat._id).unread).toBe(2);
    await sameAsStatement(t, b, '');
    const patched = t.deps.chatLists.patched;
    const mine = await postMessage(t, a, chat._id, 'mine');
    const shown = chatIn(await sameAsStatement(t, a, ''), chat._id);
    expect(shown.unread).toBe(0);
    expect(participantOf(shown, a).lastReadAt).toBe(mine.at);
    expect(chatIn(await sameAsStatement(t, b, ''), chat._id).unread).toBe(1);
    expect(t.deps.chatLists.patched).toBe(patched + 2);

    // A read mark later than the message (one committed while the message was being written)
    // leaves unread as it is.
    await t.deps.database.db.execute(
      sql`update participants set last_read_at = now() + interval '1 hour' where chat_id = ${chat._id} and user_id = ${b.id}`,
    );
    t.deps.chatLists.invalidate([b.id]);
    expect(chatIn(await sameAsStatement(t, b, ''), chat._id).unread).toBe(0);
    await postMessage(t, a, chat._id, 'before the read mark');
    expect(chatIn(await sameAsStatement(t, b, ''), chat._id).unread).toBe(0);
    expect(t.deps.chatLists.patched).toBe(patched + 3);
  });
});

describe('CHAT_LIST_CACHE_USERS=0', () => {
  it('answers every GET /chats from the database, correctly', async () => {
    const [a, b] = [await off.user(), await off.user()];
    await follow(off, a, b);
    const created = await createChat(off, a, { user: b.id });
    const chatId = created.json().chat._id;
    const first = await get(off, b);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe(JSON_TYPE);
    expect(first.json().chats[0].lastMessage).toBeNull();
    await postMessage(off, a, chatId, 'no cache');
    const second = (await get(off, b)).json();
    expect(second.chats[0].lastMessage.text).toBe('no cache');
    expect(off.deps.chatLists.size).toBe(0);
    expect(off.deps.chatLists.enabled).toBe(false);
  });
});

const quiet = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

describe('invalidations through Redis (one node, its own Redis)', () => {
  let redis: RunningServer;
  let node: TestApp;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    node = await startApp({ REDIS_URL: redis.url });
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await node?.close();
    redis?.stop();
  });

  const key = () => node.deps.chatLists.keyOf(FIRST_PAGE)!;

  async function primeOn(user: TestUser) {
    const res = await get(node, user);
    expect(res.statusCode).toBe(200);
    expect(node.deps.chatLists.get(user.id, key())).toBe(res.body);
  }

  it("publishes this node's invalidations and applies other nodes' ones, not its own", async () => {
    const [a, b] = [await node.user(), await node.user()];
    const subscriber = client.duplicate();
    const messages: any[] = [];
    subscriber.on('message', (_channel: string, text: string) => messages.push(JSON.parse(text)));
    await subscriber.subscribe(channelOf(client, CHAT_LISTS_CHANNEL));
    try {
      node.deps.chatLists.invalidate([a.id]);
      await waitFor(async () => messages.length > 0, 2000);
      expect(messages[0]).toEqual({ node: expect.any(String), users: [a.id] });

      await primeOn(a);
      await primeOn(b);
      // Its own message back (same node id) changes nothing.
      await client.publish(channelOf(client, CHAT_LISTS_CHANNEL), JSON.stringify({ node: messages[0].node, users: [a.id] }));
      await client.publish(channelOf(client, CHAT_LISTS_CHANNEL), JSON.stringify({ node: 'another-node', users: [b.id] }));
      await waitFor(async () => node.deps.chatLists.get(b.id, key()) === undefined, 2000);
      expect(node.deps.chatLists.get(a.id, key())).toBeDefined();
      expect(node.deps.chatLists.lookup(b.id, key())).toBeUndefined();
      // Another node's user whose own presence changed: the list kept, for a presence read.
      await client.publish(channelOf(client, CHAT_LISTS_CHANNEL), JSON.stringify({ node: 'another-node', users: [a.id], presence: true }));
      await waitFor(async () => node.deps.chatLists.lookup(a.id, key())?.presence === true, 2000);
    } finally {
      subscriber.disconnect();
    }
  });

  it("an event to users is not published: the other nodes drop their lists when the adapter hands them the event (not for typing)", async () => {
    const [a, b, c] = [await node.user(), await node.user(), await node.user()];
    const subscriber = client.duplicate();
    const published: string[][] = [];
    subscriber.on('message', (_channel: string, text: string) => published.push(JSON.parse(text).users));
    await subscriber.subscribe(channelOf(client, CHAT_LISTS_CHANNEL));
    // Another node: a Socket.IO server on the same Redis streams adapter, in this process.
    const otherRedis = new Redis(redis.url);
    const other = new Server({ adapter: createSocketAdapter(otherRedis, quiet) });
    try {
      await primeOn(a);
      await primeOn(b);
      await primeOn(c);
      // An event from this node: dropped here, nothing published.
      node.deps.realtime.notify([a.id], 'chat-updated', { chat: {} });
      expect(node.deps.chatLists.get(a.id, key())).toBeUndefined();
      node.deps.chatLists.invalidate([c.id]); // a change with no event: published
      await waitFor(async () => published.length > 0, 2000);
      expect(published).toEqual([[c.id]]);

      // Events from the other node: b's list dropped here by the message, not by the typing.
      await primeOn(a);
      await primeOn(c);
      other.to(userRoom(a.id)).emit('typing', { chat: 'x', user: b.id });
      other.to([userRoom(b.id), 'another-room']).emit('message-created', { message: {} });
      await waitFor(async () => node.deps.chatLists.get(b.id, key()) === undefined, 3000);
      expect(node.deps.chatLists.get(a.id, key())).toBeDefined();
      expect(node.deps.chatLists.get(c.id, key())).toBeDefined();
    } finally {
      subscriber.disconnect();
      await other.of('/').adapter.close();
      otherRedis.disconnect();
    }
  });

  it("a message-created from another node patches the lists here: the statement's bytes", async () => {
    const [a, b] = [await node.user(), await node.user()];
    const chat = await oneToOne(node, a, b);
    await primeOn(b);
    const otherRedis = new Redis(redis.url);
    const other = new Server({ adapter: createSocketAdapter(otherRedis, quiet) });
    try {
      // Written through the cache-off app (same database, no Redis): no event reaches this node
      // but the one the other node sends.
      const message = await postMessage(off, a, chat._id, 'from the other node');
      const patched = node.deps.chatLists.patched;
      other.to([userRoom(a.id), userRoom(b.id)]).emit('message-created', { message });
      await waitFor(async () => (await get(node, b)).json().chats[0].lastMessage !== null, 3000);
      expect(node.deps.chatLists.patched).toBe(patched + 1);
      expect((await get(node, b)).body).toBe((await get(off, b)).body);
    } finally {
      await other.of('/').adapter.close();
      otherRedis.disconnect();
    }
  });

  it('a presence change is read from the Redis presence kept in memory: the list is patched, not read again', async () => {
    const [a, b] = [await node.user(), await node.user()];
    const chat = await oneToOne(node, b, a);
    await waitFor(async () => node.deps.realtime.onlineUsersNow([a.id]) !== null, 5000);
    await primeOn(b);
    const patched = node.deps.chatLists.patched;
    const socket = await node.socket(a);
    try {
      await waitFor(async () => (await get(node, b)).json().chats[0].user.isOnline === true, 3000);
      expect(node.deps.chatLists.patched).toBe(patched + 1);
      expect((await get(node, b)).json().chats[0]._id).toBe(chat._id);
    } finally {
      socket.disconnect();
    }
  });

  it('while its subscriber is disconnected nothing is cached; after it reconnects, the cache starts empty', async () => {
    const a = await node.user();
    await primeOn(a);
    await client.client('KILL', 'TYPE', 'pubsub');
    await waitFor(async () => !node.deps.chatLists.enabled, 2000);
    expect(node.deps.chatLists.size).toBe(0);
    expect((await get(node, a)).statusCode).toBe(200);
    expect(node.deps.chatLists.get(a.id, key())).toBeUndefined();
    await waitFor(async () => node.deps.chatLists.enabled, 5000);
    await primeOn(a);
    await client.publish(channelOf(client, CHAT_LISTS_CHANNEL), JSON.stringify({ node: 'another-node', users: [a.id] }));
    await waitFor(async () => node.deps.chatLists.get(a.id, key()) === undefined, 2000);
  });
});

describe.skipIf(process.env.TEST_DB !== 'postgres')('two nodes on one PostgreSQL and one Redis', { timeout: 60_000 }, () => {
  let a: NodeProcess;
  let b: NodeProcess;
  beforeAll(async () => {
    // A Redis database of its own (keys; pub/sub channels are shared, and harmless to share).
    const env = { DATABASE_URL: inject('databaseUrl'), REDIS_URL: `${inject('redisUrl')}/4` };
    const started = await Promise.allSettled([startNode(env), startNode(env)]);
    if (started[0].status === 'fulfilled') a = started[0].value;
    if (started[1].status === 'fulfilled') b = started[1].value;
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }, 240_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('a list cached on node A shows a message posted on node B within a second', async () => {
    const [alice, bob] = [await a.user(), await b.user()];
    expect((await b.request('POST', `/users/${alice.id}/follow`, bob)).status).toBe(200);
    // Alice's list is cached once her chat-created has reached node A (it drops her lists there).
    const aliceOnA = await a.socket(alice);
    const createdHeard = new Promise((resolve) => aliceOnA.once('chat-created', resolve));
    const created = await b.request('POST', '/chats', bob, { user: alice.id });
    expect(created.status).toBe(201);
    const chatId = created.body.chat._id;
    await createdHeard;

    const first = await a.request('GET', '/chats', alice);
    expect(first.body.chats[0].lastMessage).toBeNull();
    // Node A answers from its cache: a write behind the service's back does not show there.
    const db = postgres(inject('databaseUrl'), { max: 1, onnotice: () => {} });
    try {
      await db`update chats set updated_at = updated_at + interval '1 second' where id = ${chatId}`;
    } finally {
      await db.end();
    }
    const cached = await a.request('GET', '/chats', alice);
    expect(cached.body).toEqual(first.body);

    const sent = await b.request('POST', `/chats/${chatId}/messages`, bob, { text: 'from node B' });
    expect(sent.status).toBe(201);
    const deadline = Date.now() + 1000;
    let shown: any = null;
    while (Date.now() < deadline) {
      shown = (await a.request('GET', '/chats', alice)).body.chats[0];
      if (shown.lastMessage) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(shown.lastMessage).toEqual(sent.body.message);
    expect(shown.unread).toBe(1);
    // Patched on node A by the event from the stream, not read again: the write behind the
    // service's back still does not show.
    expect(shown.updatedAt).toBe(first.body.chats[0].updatedAt);
    aliceOnA.close();
  });

  it('a client on node A that asks GET /chats the moment an event from node B arrives gets the new list', async () => {
    const [alice, bob] = [await a.user(), await b.user()];
    expect((await b.request('POST', `/users/${alice.id}/follow`, bob)).status).toBe(200);
    const chatId = (await b.request('POST', '/chats', bob, { user: alice.id })).body.chat._id;
    const socket = await a.socket(alice);
    for (const text of ['one', 'two', 'three']) {
      expect((await a.request('GET', '/chats', alice)).status).toBe(200);
      // The invalidation is published before the event, on the same Redis connection.
      const seen = new Promise<string | undefined>((resolve) => {
        socket.once('message-created', () => {
          void a.request('GET', '/chats', alice).then((res) => resolve(res.body.chats[0].lastMessage?.text));
        });
      });
      expect((await b.request('POST', `/chats/${chatId}/messages`, bob, { text })).status).toBe(201);
      expect(await seen).toBe(text);
    }
  });
});
