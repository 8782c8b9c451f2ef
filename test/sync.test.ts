// Lossless reconnect: GET /sync (src/sync/) and Socket.IO connection state recovery with the
// in-memory adapter (the Redis streams adapter's recovery is in test/presence-redis.test.ts).
// The main test keeps one device of a user connected the whole time and takes a second one away
// while other users change things; the device that came back and caught up through GET /sync must
// end with the same state as the one that never left.
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql, textArray, type Db } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { dbKind, ISO_DATE, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { dbRows, group, multipart, oneToOne, postMessage, socketIdOf, waitFor } from './chats-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const EPOCH = '1970-01-01T00:00:00.000Z';
const SYNC_KEYS = ['chats', 'hasMoreChats', 'messages', 'now', 'readMarkers', 'removedChats'];

function api(user: TestUser, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  return t.app.inject({ method, url, headers: user.auth, ...(payload !== undefined ? { payload } : {}) });
}

async function ok(user: TestUser, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  const res = await api(user, method, url, payload);
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.json();
}

async function sync(user: TestUser, since: string, limit?: number) {
  const query = `since=${encodeURIComponent(since)}${limit !== undefined ? `&limit=${limit}` : ''}`;
  const res = await api(user, 'GET', `/sync?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  expect(Object.keys(body).sort()).toEqual(SYNC_KEYS);
  expect(body.now).toMatch(ISO_DATE);
  return body;
}

// ---------------------------------------------------------------------------------------------
// A client's local model: its chats (as GET /chats shows them), the live messages it holds per
// chat, and the chats it learned it no longer sees.

interface Model {
  chats: Map<string, any>;
  messages: Map<string, Map<string, any>>;
  removed: Set<string>;
}

const emptyModel = (): Model => ({ chats: new Map(), messages: new Map(), removed: new Set() });

function forget(model: Model, chatId: string) {
  model.chats.delete(chatId);
  model.messages.delete(chatId);
  model.removed.add(chatId);
}

function messagesOf(model: Model, chatId: string) {
  if (!model.messages.has(chatId)) model.messages.set(chatId, new Map());
  return model.messages.get(chatId)!;
}

/** What is compared: chats by id, each chat's live messages newest first, removed chat ids. */
function snapshot(model: Model) {
  const ids = [...model.chats.keys()].sort();
  return {
    chats: ids.map((id) => model.chats.get(id)),
    messages: Object.fromEntries(
      ids.map((id) => [
        id,
        [...(model.messages.get(id)?.values() ?? [])].sort((a, b) =>
          a.at === b.at ? (a._id < b._id ? 1 : -1) : a.at < b.at ? 1 : -1,
        ),
      ]),
    ),
    removed: [...model.removed].sort(),
  };
}

/** The connected client's start: GET /chats, then each chat's messages. */
async function loadFromApi(user: TestUser): Promise<Model> {
  const model = emptyModel();
  const { chats } = await ok(user, 'GET', '/chats?limit=100');
  for (const chat of chats) {
    model.chats.set(chat._id, chat);
    const { messages } = await ok(user, 'GET', `/chats/${chat._id}/messages?limit=100`);
    model.messages.set(chat._id, new Map(messages.map((m: any) => [m._id, m])));
  }
  return model;
}

/** How a client applies a GET /sync answer (README "Catching up after a disconnect"). */
function applySync(model: Model, answer: any, viewerId: string) {
  for (const chat of answer.chats) {
    model.chats.set(chat._id, chat);
    messagesOf(model, chat._id);
  }
  for (const { chat } of answer.removedChats) forget(model, chat);
  for (const entry of answer.messages) {
    const held = messagesOf(model, entry.chat);
    for (const message of entry.messages) {
      if (message.deletedAt) held.delete(message._id);
      else held.set(message._id, message);
    }
  }
  for (const marker of answer.readMarkers) {
    const mine = model.chats.get(marker.chat)?.participants.find((p: any) => p.user._id === viewerId);
    if (mine) mine.lastReadAt = marker.lastReadAt;
  }
}

/**
 * How a connected client applies socket events. `historyOnJoin` is what it loaded with
 * GET /chats/:id/messages when chat-joined told it of a new chat.
 */
function applyEvents(model: Model, events: { event: string; payload: any }[], viewerId: string, historyOnJoin: Map<string, any[]>) {
  for (const { event, payload } of events) {
    switch (event) {
      case 'message-created':
      case 'message-updated':
        messagesOf(model, payload.message.chat).set(payload.message._id, payload.message);
        break;
      case 'message-deleted':
        messagesOf(model, payload.chat).delete(payload.message);
        break;
      case 'chat-deleted':
      case 'chat-access-removed':
        forget(model, payload.chat);
        break;
      case 'chat-participant-removed': {
        const mine = model.chats.get(payload.chat)?.participants.find((p: any) => p.user._id === viewerId);
        if (mine && mine._id === payload.participant) forget(model, payload.chat);
        break;
      }
      case 'chat-joined':
        model.removed.delete(payload.chat._id);
        model.messages.set(payload.chat._id, new Map((historyOnJoin.get(payload.chat._id) ?? []).map((m) => [m._id, m])));
        break;
    }
  }
}

interface Device {
  socket: Socket;
  events: { event: string; payload: any }[];
}

async function device(user: TestUser): Promise<Device> {
  const socket = await t.socket(user);
  const events: Device['events'] = [];
  socket.onAny((event: string, payload: unknown) => events.push({ event, payload }));
  return { socket, events };
}

async function waitForEvent(d: Device, event: string, match: (payload: any) => boolean = () => true) {
  await waitFor(async () => d.events.some((e) => e.event === event && match(e.payload)));
}

// ---------------------------------------------------------------------------------------------

describe('GET /sync: a device that was away catches up to the one that never left', () => {
  it('ends with the same chats, messages and removed chats', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();

    // Before the drop. chat8 is never touched again.
    const chat8 = await group(t, b, [a]);
    await postMessage(t, b, chat8._id, 'quiet');
    const chat1 = await group(t, b, [a, c]);
    const m1a = await postMessage(t, b, chat1._id, 'one');
    const m1b = await postMessage(t, b, chat1._id, 'two');
    await postMessage(t, c, chat1._id, 'three');
    const chat2 = await group(t, b, [a]);
    await postMessage(t, b, chat2._id, 'before the rename');
    const chat3 = await group(t, b, [a]);
    const chat4 = await group(t, b, [a]);
    await postMessage(t, b, chat4._id, 'soon gone');
    const chat5 = await oneToOne(t, b, a);
    const m5a = await postMessage(t, b, chat5._id, 'old');
    await postMessage(t, a, chat5._id, 'newer');
    const chat7 = await group(t, b, [a]);
    await postMessage(t, b, chat7._id, 'unread for now');

    const a1 = await device(a);
    const a2 = await device(a);
    // Only A has sockets: everyone's presence is the same in every answer below.
    await settle(400);

    // Both start from the same state: A1 from GET /chats and the messages, A2 from a first sync.
    const a1Model = await loadFromApi(a);
    const bootstrap = await sync(a, EPOCH, 100);
    expect(bootstrap.hasMoreChats).toBe(false);
    expect(bootstrap.removedChats).toEqual([]);
    const a2Model = emptyModel();
    applySync(a2Model, bootstrap, a.id);
    expect(snapshot(a2Model)).toEqual(snapshot(a1Model));
    expect(a1Model.chats.size).toBe(7);
    const since = bootstrap.now;

    // A2 drops; A1 records everything from here on.
    a2.socket.disconnect();
    await settle(100);
    a1.events.length = 0;

    await settle(20);
    const m1d = await postMessage(t, b, chat1._id, 'four');
    const m1e = await postMessage(t, c, chat1._id, 'five');
    await ok(b, 'PUT', `/chats/${chat1._id}/messages/${m1b._id}`, { text: 'two, edited' });
    // The last message goes: chat1's last message and activity move back to m1d.
    await ok(c, 'DELETE', `/chats/${chat1._id}/messages/${m1e._id}`);
    // An old message of chat5 is edited: neither the chat's activity nor its updatedAt moves.
    await ok(b, 'PUT', `/chats/${chat5._id}/messages/${m5a._id}`, { text: 'old, edited' });
    // chat2 has messages: the rename moves updatedAt, not the activity.
    const form = multipart({ name: 'Renamed while away' });
    const renamed = await t.app.inject({ method: 'PUT', url: `/chats/${chat2._id}`, headers: { ...b.auth, ...form.headers }, payload: form.payload });
    expect(renamed.statusCode, renamed.body).toBe(200);
    await ok(b, 'DELETE', `/chats/${chat3._id}/participants/${a.id}`);
    await ok(b, 'DELETE', `/chats/${chat4._id}`);
    // A new chat with a message before A is added and one after.
    const chat6 = await group(t, b, [c]);
    await postMessage(t, b, chat6._id, 'before A came');
    await ok(b, 'POST', `/chats/${chat6._id}/participants/multiple`, { participants: [a.id] });
    await waitForEvent(a1, 'chat-joined', (p) => p.chat._id === chat6._id);
    const historyOnJoin = new Map([[chat6._id, (await ok(a, 'GET', `/chats/${chat6._id}/messages?limit=100`)).messages]]);
    await postMessage(t, b, chat6._id, 'after A came');
    // A reads chat7 on A1: chat-read goes to A's other sockets, A2 is not there to get it.
    await ok(a, 'POST', `/chats/${chat7._id}/read`, { socket: socketIdOf(a1.socket) });
    await waitForEvent(a1, 'message-created', (p) => p.message.text === 'after A came');
    await settle(200);

    // A1: the events it got, and the chat list as GET /chats shows it now.
    applyEvents(a1Model, a1.events, a.id, historyOnJoin);
    a1Model.chats = new Map((await ok(a, 'GET', '/chats?limit=100')).chats.map((chat: any) => [chat._id, chat]));

    // A2 comes back and catches up.
    const back = await t.socket(a);
    const answer = await sync(a, since);
    applySync(a2Model, answer, a.id);

    expect(snapshot(a2Model)).toEqual(snapshot(a1Model));
    expect(snapshot(a2Model).removed).toEqual([chat3._id, chat4._id].sort());
    expect([...a2Model.chats.keys()].sort()).toEqual([chat1._id, chat2._id, chat5._id, chat6._id, chat7._id, chat8._id].sort());

    // The answer itself: only what changed, complete.
    expect(answer.hasMoreChats).toBe(false);
    expect(answer.now >= since).toBe(true);
    expect(answer.chats.map((chat: any) => chat._id).sort()).toEqual([chat1._id, chat2._id, chat5._id, chat6._id, chat7._id].sort());
    const chat1Now = answer.chats.find((chat: any) => chat._id === chat1._id);
    expect(chat1Now.lastMessage._id).toBe(m1d._id);
    expect(answer.chats.find((chat: any) => chat._id === chat2._id).name).toBe('Renamed while away');
    expect(answer.chats.find((chat: any) => chat._id === chat7._id).unread).toBe(0);
    expect(answer.removedChats.map((r: any) => r.chat).sort()).toEqual([chat3._id, chat4._id].sort());
    for (const removal of answer.removedChats) {
      expect(Object.keys(removal).sort()).toEqual(['chat', 'removedAt']);
      expect(removal.removedAt).toMatch(ISO_DATE);
      expect(removal.removedAt >= since).toBe(true);
    }

    const messagesBy = new Map(answer.messages.map((entry: any) => [entry.chat, entry]));
    expect([...messagesBy.keys()].sort()).toEqual([chat1._id, chat5._id, chat6._id].sort());
    for (const entry of answer.messages) {
      expect(Object.keys(entry).sort()).toEqual(['chat', 'hasMore', 'messages']);
      expect(entry.hasMore).toBe(false);
    }
    // Newest first; the deleted one tells the client to drop it, the edited one carries the edit.
    const chat1Changes = (messagesBy.get(chat1._id) as any).messages;
    expect(chat1Changes.map((m: any) => m._id)).toEqual([m1e._id, m1d._id, m1b._id]);
    expect(chat1Changes[0]).toEqual({
      _id: m1e._id,
      chat: chat1._id,
      at: m1e.at,
      deletedAt: expect.stringMatching(ISO_DATE),
      user: m1e.user,
      files: [],
    });
    expect(chat1Changes[2]).toMatchObject({ text: 'two, edited', editedAt: expect.stringMatching(ISO_DATE) });
    expect((messagesBy.get(chat5._id) as any).messages.map((m: any) => m.text)).toEqual(['old, edited']);
    expect((messagesBy.get(chat6._id) as any).messages.map((m: any) => m.text)).toEqual(['after A came', 'before A came']);

    // Read markers: chat7 read on A1, chat6 joined (lastReadAt starts at the join, rulings.md 13).
    const finalChats = a1Model.chats;
    const myLastRead = (chatId: string) => finalChats.get(chatId).participants.find((p: any) => p.user._id === a.id).lastReadAt;
    expect([...answer.readMarkers].sort((x: any, y: any) => (x.chat < y.chat ? -1 : 1))).toEqual(
      [chat6._id, chat7._id].sort().map((chat) => ({ chat, lastReadAt: myLastRead(chat) })),
    );
    // What removedChats is read from (written by participants removal and DELETE /chats).
    const removals = await dbRows<{ chatId: string }>(
      t,
      sql`select chat_id as "chatId" from chat_removals where user_id = ${a.id} order by chat_id`,
    );
    expect(removals.map((r) => r.chatId)).toEqual([chat3._id, chat4._id].sort());

    // The device that was away got nothing while away; m1a was never touched.
    expect(a2.events.filter((e) => e.event === 'message-created')).toEqual([]);
    expect(a2Model.messages.get(chat1._id)!.get(m1a._id)).toEqual(m1a);
    back.disconnect();
  });

  it('a chat the viewer left and joined again is a chat again, not a removed one', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, b, [a]);
    const { now: since } = await sync(a, EPOCH);
    await settle(20);
    await ok(a, 'DELETE', `/chats/${chat._id}/participants/${a.id}`);
    const away = await sync(a, since);
    expect(away.chats).toEqual([]);
    expect(away.removedChats.map((r: any) => r.chat)).toEqual([chat._id]);

    await ok(b, 'POST', `/chats/${chat._id}/participants/multiple`, { participants: [a.id] });
    const again = await sync(a, since);
    expect(again.removedChats).toEqual([]);
    expect(again.chats.map((c: any) => c._id)).toEqual([chat._id]);
    expect(again.chats[0]).toEqual((await ok(a, 'GET', `/chats/${chat._id}`)).chat);
  });

  it.runIf(dbKind === 'postgres')(
    'a write whose transaction began before a sync and committed after it is in the next sync',
    async () => {
      const a = await t.user();
      const b = await t.user();
      const chat = await group(t, b, [a]);
      const message = await postMessage(t, b, chat._id, 'before');
      await settle(50);

      // Another connection edits the message with its transaction's time, and commits only after
      // the sync below has answered: that time is earlier than the sync's own now().
      let commit!: () => void;
      let edited!: (at: string) => void;
      const editedAt = new Promise<string>((resolve) => (edited = resolve));
      const writer = t.deps.database.db.transaction(async (tx) => {
        const [row] = await rows<{ at: string }>(
          tx as unknown as Db,
          sql`update messages set text = 'edited late', edited_at = now(), updated_at = now()
              where id = ${message._id} returning iso(updated_at) as at`,
        );
        edited(row.at);
        await new Promise<void>((resolve) => (commit = resolve));
      });
      try {
        const writeTime = await editedAt;
        await settle(100);

        const first = await sync(a, EPOCH);
        const firstSeen = first.messages.find((e: any) => e.chat === chat._id).messages[0];
        expect(firstSeen.text).toBe('before');
        // The cursor stays at or before the start of the transaction still open.
        expect(first.now <= writeTime).toBe(true);

        commit();
        await writer;
        const next = await sync(a, first.now);
        const nextSeen = next.messages.find((e: any) => e.chat === chat._id).messages[0];
        expect(nextSeen).toMatchObject({ _id: message._id, text: 'edited late' });
      } finally {
        commit?.();
        await writer;
      }
    },
  );
});

describe('GET /sync: answers', () => {
  it('a user in no chats gets empty lists and the server time', async () => {
    const a = await t.user();
    const before = new Date().toISOString();
    const answer = await sync(a, EPOCH);
    expect(answer).toEqual({ now: expect.stringMatching(ISO_DATE), hasMoreChats: false, chats: [], removedChats: [], messages: [], readMarkers: [] });
    // The database clock, at or before the request (a cursor never runs ahead of what it covers).
    expect(Math.abs(Date.parse(answer.now) - Date.parse(before))).toBeLessThan(5000);
  });

  it('since in the future: empty lists', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, b, [a]);
    await postMessage(t, b, chat._id);
    const future = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const answer = await sync(a, future);
    expect(answer).toMatchObject({ hasMoreChats: false, chats: [], removedChats: [], messages: [], readMarkers: [] });
    expect(answer.now < future).toBe(true);
  });

  it('accepts any ISO 8601 date-time with a time zone', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, b, [a]);
    const created = Date.parse(chat.createdAt);
    const hourBefore = new Date(created - 3600 * 1000);
    // The same instant written with an offset of +02:00.
    const shifted = new Date(hourBefore.getTime() + 2 * 3600 * 1000).toISOString().replace('Z', '+02:00');
    const answer = await sync(a, shifted);
    expect(answer.chats.map((c: any) => c._id)).toEqual([chat._id]);
  });

  it('400 VALIDATION_FAILED naming since or limit for bad values; 401 without a token', async () => {
    const a = await t.user();
    for (const query of ['', 'since=yesterday', 'since=2025-13-01T00:00:00Z', 'since=2025-01-01', 'since=2025-01-01T00:00:00', 'since=']) {
      const res = await api(a, 'GET', `/sync?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field: 'since' });
    }
    for (const limit of ['0', '101', 'abc', '1.5', '-1']) {
      const res = await api(a, 'GET', `/sync?since=${EPOCH}&limit=${limit}`);
      expect(res.statusCode, limit).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'limit' });
    }
    const anonymous = await t.app.inject({ method: 'GET', url: `/sync?since=${EPOCH}` });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().code).toBe('UNAUTHORIZED');
  });

  it('is documented in the OpenAPI document', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const route = res.json().paths['/sync'].get;
    expect(route.parameters.map((p: any) => p.name).sort()).toEqual(['limit', 'since']);
    expect(Object.keys(route.responses['200'].content['application/json'].schema.properties).sort()).toEqual(SYNC_KEYS);
  });

  it('limit bounds the messages per chat, keeping the most recently changed, with hasMore', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, b, [a]);
    const { now: since } = await sync(a, EPOCH);
    await settle(20);
    const first = await postMessage(t, b, chat._id, 'm1');
    const second = await postMessage(t, b, chat._id, 'm2');
    const third = await postMessage(t, b, chat._id, 'm3');
    // The oldest one changes last: it is the most recently changed.
    await ok(b, 'PUT', `/chats/${chat._id}/messages/${first._id}`, { text: 'm1 edited' });

    const one = await sync(a, since, 1);
    expect(one.messages).toEqual([{ chat: chat._id, messages: [expect.objectContaining({ _id: first._id, text: 'm1 edited' })], hasMore: true }]);
    const two = await sync(a, since, 2);
    expect(two.messages[0].messages.map((m: any) => m._id)).toEqual([third._id, first._id]);
    expect(two.messages[0].hasMore).toBe(true);
    const all = await sync(a, since, 4);
    expect(all.messages[0].messages.map((m: any) => m._id)).toEqual([third._id, second._id, first._id]);
    expect(all.messages[0].hasMore).toBe(false);
    // Default 50, maximum 100.
    expect((await sync(a, since)).messages[0].messages).toHaveLength(3);
    expect((await sync(a, since, 100)).messages[0].messages).toHaveLength(3);
  });

  it('at most 500 chats per answer: hasMoreChats, and the next call from `now` brings the rest', async () => {
    const a = await t.user();
    // 502 group chats of A, each changed one second after the previous (set up in SQL: creating
    // them one by one through the API is not what is under test here).
    const base = Date.now() - 3600 * 1000;
    const ids = Array.from({ length: 502 }, () => newId());
    const pids = ids.map(() => newId());
    const db = t.deps.database.db;
    await db.execute(sql`insert into chats (id, is_group, creator_id, name, category, participants_count, created_at, updated_at)
      select c.id, true, ${a.id}, 'Bulk ' || c.n, 'Other', 1,
             ${new Date(base).toISOString()}::timestamptz + c.n * interval '1 second',
             ${new Date(base).toISOString()}::timestamptz + c.n * interval '1 second'
      from unnest(${textArray(ids)}) with ordinality as c(id, n)`);
    await db.execute(sql`insert into participants (id, chat_id, user_id, is_admin, is_group, last_read_at, joined_at, activity_at)
      select p.id, c.id, ${a.id}, true, true, c.updated_at, c.updated_at, c.updated_at
      from unnest(${textArray(pids)}, ${textArray(ids)}) as p(id, chat_id) join chats c on c.id = p.chat_id`);

    const since = new Date(base - 60_000).toISOString();
    const first = await sync(a, since, 1);
    expect(first.hasMoreChats).toBe(true);
    expect(first.chats).toHaveLength(500);
    // Earliest change first; `now` is where the first chat left out changed.
    expect(first.chats.map((c: any) => c._id)).toEqual(ids.slice(0, 500));
    expect(first.now).toBe(new Date(base + 501 * 1000).toISOString());
    expect(first.readMarkers).toHaveLength(500);

    const rest = await sync(a, first.now, 1);
    expect(rest.hasMoreChats).toBe(false);
    expect(rest.chats.map((c: any) => c._id)).toEqual(ids.slice(500));
    expect(Date.parse(rest.now)).toBeGreaterThan(Date.parse(first.now));
  });
});

describe('Socket.IO connection state recovery (in-memory adapter)', () => {
  it('a client whose transport closed reconnects within the window, recovered, with the events sent meanwhile', async () => {
    const a = await t.user();
    const b = await t.user();
    const chat = await group(t, b, [a]);
    const stays = await device(a);
    const client = connect(t.url, {
      auth: { token: a.token },
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: 1500,
      randomizationFactor: 0,
    });
    const received: string[] = [];
    client.on('message-created', (payload: any) => received.push(payload.message.text));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const firstId = client.id;
    expect(client.recovered).toBe(false);

    // An event before the drop gives the client its offset in the server's packet log.
    await postMessage(t, b, chat._id, 'before');
    await waitFor(async () => received.length === 1);

    const reasons: string[] = [];
    client.once('disconnect', (reason) => reasons.push(reason));
    client.io.engine.close();
    await waitFor(async () => !client.connected);
    await postMessage(t, b, chat._id, 'while away 1');
    await postMessage(t, b, chat._id, 'while away 2');
    expect(received).toEqual(['before']);

    // socket.io-client reconnects by itself after reconnectionDelay.
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    expect(client.recovered).toBe(true);
    expect(client.id).toBe(firstId);
    await postMessage(t, b, chat._id, 'after');
    await waitFor(async () => received.length === 4);
    await settle(100);
    // Every event exactly once, in order: the same as the socket that never left.
    expect(received).toEqual(['before', 'while away 1', 'while away 2', 'after']);
    expect(stays.events.filter((e) => e.event === 'message-created').map((e) => e.payload.message.text)).toEqual(received);
    expect(reasons).toHaveLength(1);
    client.disconnect();
  });
});
