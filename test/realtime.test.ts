import { SignJWT } from 'jose';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { viewerSocketRoom } from '../src/realtime/server.js';
import { nextEvent, record, settle, startApp, TEST_JWT_SECRET, type TestApp, type TestUser } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
}, 180_000); // the first app of a worker opens and migrates PGlite: slow on a busy machine
afterAll(() => t?.close());

const opened: Socket[] = [];
afterAll(() => opened.forEach((s) => s.disconnect()));

/** A raw client with whatever auth it is given; resolves with the connect_error message or 'connected'. */
function handshake(options: { auth?: Record<string, unknown>; headers?: Record<string, string> }): Promise<string> {
  const socket = connect(t.url, {
    auth: options.auth,
    extraHeaders: options.headers,
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  opened.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (error) => resolve(error.message));
  });
}

const secret = new TextEncoder().encode(TEST_JWT_SECRET);

async function until(check: () => Promise<boolean> | boolean, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await settle(20);
  }
}

/** A chat with these participants, written with SQL (the chats routes are not under test here). */
async function chatOf(users: TestUser[]): Promise<string> {
  const chatId = newId();
  const db = t.deps.database.db;
  await db.execute(sql`insert into chats (id, is_group, creator_id, name, category, participants_count)
    values (${chatId}, true, ${users[0].id}, 'Realtime test', 'Study', ${users.length})`);
  for (const [i, user] of users.entries()) {
    await db.execute(sql`insert into participants (id, chat_id, user_id, is_admin, is_group)
      values (${newId()}, ${chatId}, ${user.id}, ${i === 0}, true)`);
  }
  return chatId;
}

describe('handshake', () => {
  it('connects with a valid token, in auth or in the Authorization header', async () => {
    const u = await t.user();
    expect(await handshake({ auth: { token: u.token } })).toBe('connected');
    expect(await handshake({ headers: { authorization: `Bearer ${u.token}` } })).toBe('connected');
  });

  it("refuses a missing, malformed, expired or forged token with 'unauthorized'", async () => {
    const u = await t.user();
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(u.id)
      .setIssuedAt(1000).setExpirationTime(2000).sign(secret);
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(u.id)
      .setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-another'));
    const noneAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: u.id })).toString('base64url')}.`;
    const notAnId = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('admin').setExpirationTime('1h').sign(secret);
    for (const auth of [{}, { token: '' }, { token: 'not-a-jwt' }, { token: 42 }, { token: expired }, { token: forged }, { token: noneAlg }, { token: notAnId }]) {
      expect(await handshake({ auth }), JSON.stringify(auth).slice(0, 40)).toBe('unauthorized');
    }
  });
});

describe('notify', () => {
  it("reaches every socket of the users but the excepted one, and no one else's", async () => {
    const a = await t.user();
    const b = await t.user();
    const stranger = await t.user();
    const a1 = await t.socket(a);
    const a2 = await t.socket(a);
    const b1 = await t.socket(b);
    const s1 = await t.socket(stranger);
    const seen = { a1: record(a1, 'ping-test'), a2: record(a2, 'ping-test'), b1: record(b1, 'ping-test'), s1: record(s1, 'ping-test') };

    t.deps.realtime.notify([a.id, b.id], 'ping-test', { n: 1 });
    await until(() => seen.a1.length + seen.a2.length + seen.b1.length === 3);
    t.deps.realtime.notify([a.id, b.id], 'ping-test', { n: 2 }, { exceptSocket: viewerSocketRoom(a.id, a1.id!) });
    await until(() => seen.a2.length === 2 && seen.b1.length === 2);
    await settle();
    expect(seen.a1).toEqual([{ n: 1 }]);
    expect(seen.a2).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen.b1).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen.s1).toEqual([]);
  });

  it("a request's socket keeps only the viewer's own socket of that id from its events (rulings.md 7)", async () => {
    const a = await t.user();
    const b = await t.user();
    const chatId = await chatOf([a, b]);
    const [a1, a2, b1, b2] = [await t.socket(a), await t.socket(a), await t.socket(b), await t.socket(b)];
    const seen = [a1, a2, b1, b2].map((s) => record(s, 'message-created'));
    const post = (socket: string) =>
      t.app.inject({ method: 'POST', url: `/chats/${chatId}/messages`, headers: a.auth, payload: { text: socket, socket } });

    // The id of somebody else's socket excludes nobody; the viewer's own, only that socket.
    expect((await post(b1.id!)).statusCode).toBe(201);
    expect((await post(a1.id!)).statusCode).toBe(201);
    await until(() => seen[1].length === 2 && seen[2].length === 2 && seen[3].length === 2);
    await settle();
    const texts = seen.map((events) => events.map((e) => e.message.text));
    expect(texts).toEqual([[b1.id], [b1.id, a1.id], [b1.id, a1.id], [b1.id, a1.id]]);
  });

  it('does nothing for an empty list', async () => {
    const a = await t.user();
    const a1 = await t.socket(a);
    const seen = record(a1, 'nobody');
    t.deps.realtime.notify([], 'nobody', {});
    await settle();
    expect(seen).toEqual([]);
  });
});

describe('presence', () => {
  it('onlineUsers follows connect and disconnect of two sockets of one user', async () => {
    const a = await t.user();
    const b = await t.user();
    const online = async () => [...(await t.deps.realtime.onlineUsers([a.id, b.id]))];
    expect(await online()).toEqual([]);
    const first = await t.socket(a);
    await until(async () => (await online()).includes(a.id));
    const second = await t.socket(a);
    first.disconnect();
    await settle(200);
    expect(await online()).toEqual([a.id]);
    second.disconnect();
    await until(async () => (await online()).length === 0);
  });

  it('tells users who share a chat, and not a stranger, when a user comes and goes', async () => {
    const a = await t.user();
    const friend = await t.user();
    const stranger = await t.user();
    await chatOf([friend, a]);
    const friendSocket = await t.socket(friend);
    const strangerSocket = await t.socket(stranger);
    const strangerSaw = record(strangerSocket, 'presence');
    const friendSaw = record(friendSocket, 'presence');

    const aSocket = await t.socket(a);
    await until(() => friendSaw.some((p) => p.user === a.id && p.isOnline === true));
    aSocket.disconnect();
    await until(() => friendSaw.some((p) => p.user === a.id && p.isOnline === false));
    await settle();
    expect(friendSaw.filter((p) => p.user === a.id)).toEqual([
      { user: a.id, isOnline: true },
      { user: a.id, isOnline: false },
    ]);
    expect(strangerSaw.filter((p) => p.user === a.id)).toEqual([]);
  });

  it('announces online once for two sockets and offline only when the last one goes', async () => {
    const a = await t.user();
    const friend = await t.user();
    await chatOf([a, friend]);
    const friendSocket = await t.socket(friend);
    const saw = record(friendSocket, 'presence');
    const s1 = await t.socket(a);
    const s2 = await t.socket(a);
    await until(() => saw.length >= 1);
    s1.disconnect();
    await settle(300);
    expect(saw).toEqual([{ user: a.id, isOnline: true }]);
    s2.disconnect();
    await until(() => saw.length === 2);
    expect(saw[1]).toEqual({ user: a.id, isOnline: false });
  });
});

describe('typing', () => {
  it("relays {chat} to the chat's other participants only", async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    const stranger = await t.user();
    const chatId = await chatOf([a, b, c]);
    const a1 = await t.socket(a);
    const a2 = await t.socket(a);
    const b1 = await t.socket(b);
    const c1 = await t.socket(c);
    const s1 = await t.socket(stranger);
    const seen = { a2: record(a2, 'typing'), a1: record(a1, 'typing'), s1: record(s1, 'typing') };

    const atB = nextEvent(b1, 'typing', 15000);
    const atC = nextEvent(c1, 'typing', 15000);
    a1.emit('typing', { chat: chatId });
    expect(await atB).toMatchObject({ chat: chatId });
    expect(await atC).toMatchObject({ chat: chatId });
    await settle();
    expect(seen.a1).toEqual([]);
    expect(seen.a2).toEqual([]);
    expect(seen.s1).toEqual([]);
  });

  it('relays nothing when the sender is not a participant, or the payload is bad', async () => {
    const a = await t.user();
    const b = await t.user();
    const stranger = await t.user();
    const chatId = await chatOf([a, b]);
    const a1 = await t.socket(a);
    const b1 = await t.socket(b);
    const s1 = await t.socket(stranger);
    const seen = { a1: record(a1, 'typing'), b1: record(b1, 'typing') };
    s1.emit('typing', { chat: chatId });
    s1.emit('typing', { chat: newId() });
    b1.emit('typing', { chat: 'not-an-id' });
    b1.emit('typing', null);
    b1.emit('typing', 'garbage');
    await settle(400);
    expect(seen.a1).toEqual([]);
    expect(seen.b1).toEqual([]);
    // The server is still fine afterwards.
    const atA = nextEvent(a1, 'typing', 15000);
    b1.emit('typing', { chat: chatId });
    expect(await atA).toMatchObject({ chat: chatId });
  });
});
