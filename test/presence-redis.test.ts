// Presence in Redis (rulings.md 8) and the Redis streams adapter, in one test process: several
// RedisPresence "nodes" on the suite's real Redis, and two in-process apps sharing it. The
// two-process test with a killed node is test/scaleout.test.ts.
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { sql } from '../src/db/client.js';
import { RedisPresence } from '../src/realtime/presence-redis.js';
import { channelOf, closeRedis, connectRedis, type Redis } from '../src/realtime/redis.js';
import { newId } from '../src/shared/ids.js';
import { nextEvent, record, settle, startApp, withDevices, type TestApp, type TestUser } from './helpers/app.js';
import { dbRows, group, listChats, postMessage } from './chats-fixtures.js';
import { startRedis } from './helpers/servers.js';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const redisUrl = inject('redisUrl');
const TTL = 3;

const clients: Redis[] = [];
const nodes: RedisPresence[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
  for (const client of clients.splice(0)) await closeRedis(client);
});

// Each test is its own cluster of nodes (its own key prefix): the suite's Redis is shared by
// every test process, and any live node of a cluster may be the one that reaps a dead one.
let prefix = '';
beforeEach(() => {
  prefix = `test:${newId()}:presence:`;
});

async function node(): Promise<{ presence: RedisPresence; redis: Redis; transitions: [string[], boolean][] }> {
  const redis = await connectRedis(redisUrl, log);
  clients.push(redis);
  const presence = new RedisPresence(redis, { ttlSeconds: TTL, log, prefix });
  nodes.push(presence);
  const transitions: [string[], boolean][] = [];
  presence.onTransition((userIds, isOnline) => transitions.push([userIds, isOnline]));
  await presence.start();
  return { presence, redis, transitions };
}

const fresh = () => newId();

async function until(check: () => Promise<boolean> | boolean, ms: number, step = 50): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await settle(step);
  }
  return Date.now() - start;
}

describe('RedisPresence', () => {
  it('counts a user online while any socket on any node is connected, with first/last transitions', async () => {
    const a = await node();
    const b = await node();
    const user = fresh();
    expect(await a.presence.connect(user, 'sa1')).toBe(true);
    // A node reads its own transitions at once; the others once the transition reaches them.
    expect(await a.presence.online([user])).toEqual(new Set([user]));
    await until(async () => (await b.presence.online([user])).size === 1, 1000, 5);
    expect(await b.presence.connect(user, 'sb1')).toBe(false);
    expect(await a.presence.connect(user, 'sa2')).toBe(false);

    expect(await a.presence.disconnect(user, 'sa1')).toBe(false);
    expect(await b.presence.disconnect(user, 'sb1')).toBe(false);
    expect(await a.presence.online([user])).toEqual(new Set([user]));
    expect(await a.presence.disconnect(user, 'sa2')).toBe(true);
    expect(await a.presence.online([user])).toEqual(new Set());
    await until(async () => (await b.presence.online([user])).size === 0, 1000, 5);
    // A socket unknown to Redis (already gone) is no transition.
    expect(await a.presence.disconnect(user, 'sa2')).toBe(false);
  });

  it('answers online() from memory: no command to Redis, for any number of users', async () => {
    const a = await node();
    const b = await node();
    const users = Array.from({ length: 300 }, fresh);
    for (const [i, user] of users.entries()) if (i % 3 === 0) await a.presence.connect(user, `s${i}`);
    const expected = new Set(users.filter((_, i) => i % 3 === 0));
    await until(async () => (await b.presence.online(users)).size === expected.size, 1000, 5);

    const monitor = await a.redis.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => arg.includes(users[0]))) seen.push(args);
    });
    await settle(50);
    for (const n of [a, b]) expect(await n.presence.online(users)).toEqual(expected);
    await settle(200);
    monitor.disconnect();
    expect(seen).toEqual([]);
    expect(await a.presence.online([])).toEqual(new Set());
  });

  it('a node started later reads who is online (one snapshot), then follows the transitions', async () => {
    const a = await node();
    const [early, late] = [fresh(), fresh()];
    await a.presence.connect(early, 'e1');
    const c = await node();
    expect(c.presence.synced).toBe(true);
    expect(await c.presence.online([early, late])).toEqual(new Set([early]));
    await a.presence.connect(late, 'l1');
    await a.presence.disconnect(early, 'e1');
    await until(async () => {
      const online = await c.presence.online([early, late]);
      return online.has(late) && !online.has(early);
    }, 1000, 5);
    expect(await c.presence.online([early, late])).toEqual(new Set([late]));
  });

  it('before its subscription is up, online() asks Redis in one script call', async () => {
    const a = await node();
    const users = Array.from({ length: 50 }, fresh);
    for (const [i, user] of users.entries()) if (i % 2 === 0) await a.presence.connect(user, `s${i}`);
    const redis = await connectRedis(redisUrl, log);
    clients.push(redis);
    const idle = new RedisPresence(redis, { ttlSeconds: TTL, log, prefix }); // not started
    expect(idle.synced).toBe(false);

    const monitor = await a.redis.monitor();
    const seen: string[][] = [];
    // MONITOR also lists the commands a script runs (source "lua"): count what clients sent.
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((arg) => arg.includes(users[1]))) seen.push(args);
    });
    await settle(50);
    const online = await idle.online(users);
    await settle(200);
    monitor.disconnect();
    expect(online).toEqual(new Set(users.filter((_, i) => i % 2 === 0)));
    expect(seen).toHaveLength(1);
    expect(seen[0][0].toLowerCase()).toMatch(/^evalsha$|^eval$/);
  });

  it('a skipped transition number makes the node read the online users again', async () => {
    const a = await node();
    const b = await node();
    const [user, ghost] = [fresh(), fresh()];
    await a.presence.connect(user, 'u1');
    await until(async () => (await b.presence.online([user])).size === 1, 1000, 5);
    // A transition out of sequence (as if some had been lost): b no longer trusts its memory.
    await a.redis.publish(channelOf(a.redis, `${prefix}transitions`), `999999 1 ${ghost}`);
    await until(async () => (await b.presence.online([ghost])).size === 0 && b.presence.synced, 1000, 5);
    expect(await b.presence.online([user, ghost])).toEqual(new Set([user]));
    await a.presence.disconnect(user, 'u1');
    await until(async () => (await b.presence.online([user])).size === 0, 1000, 5);
  });

  it('nodes on another database of the same Redis server (same prefix) do not hear its transitions', async () => {
    const a = await node();
    const redis = await connectRedis(`${redisUrl}/7`, log);
    clients.push(redis);
    const other = new RedisPresence(redis, { ttlSeconds: TTL, log, prefix });
    nodes.push(other);
    await other.start();
    const [user, mark] = [fresh(), fresh()];
    await a.presence.connect(user, 'u1');
    await other.connect(mark, 'm1'); // its own transition, after a's: when it is in, a's had come
    await until(async () => (await other.online([mark])).size === 1, 1000, 5);
    await settle(50);
    expect(other.synced).toBe(true);
    expect(await other.online([user])).toEqual(new Set());
    expect(await a.presence.online([mark])).toEqual(new Set());
  });

  it('REDIS_URL over the server\'s Unix socket (?path=): connects there, selects the database of the URL path', async () => {
    const own = await startRedis();
    try {
      const url = own.socketUrl.replace('localhost/0?', 'localhost/6?');
      const redis = await connectRedis(url, log);
      try {
        const info = await redis.call('client', 'info');
        expect(String(info)).toMatch(/ addr=\/\S*redis\.sock:0 /);
        expect(String(info)).toMatch(/ db=6 /);
        expect(channelOf(redis, 'x')).toBe('x:db6');
        await redis.set(`${prefix}unix`, '1');
        const tcp = await connectRedis(`${own.url}/6`, log);
        expect(await tcp.get(`${prefix}unix`)).toBe('1');
        await closeRedis(tcp);
      } finally {
        await closeRedis(redis);
      }
    } finally {
      own.stop();
    }
  });

  it('a subscription that drops is taken up again, with what changed meanwhile', async () => {
    // A Redis of its own: CLIENT KILL of the subscribers must not reach the other test files'.
    const own = await startRedis();
    try {
      const connectTo = async () => {
        const redis = await connectRedis(own.url, log);
        clients.push(redis);
        const presence = new RedisPresence(redis, { ttlSeconds: TTL, log, prefix });
        nodes.push(presence);
        await presence.start();
        return { presence, redis };
      };
      const a = await connectTo();
      const b = await connectTo();
      const [before, meanwhile] = [fresh(), fresh()];
      await a.presence.connect(before, 'x1');
      await until(async () => (await b.presence.online([before])).size === 1, 1000, 5);

      await a.redis.client('KILL', 'TYPE', 'pubsub');
      await until(() => !b.presence.synced, 1000, 5);
      await a.presence.connect(meanwhile, 'x2');
      await a.presence.disconnect(before, 'x1');
      await until(() => b.presence.synced, 3000, 5);
      expect(await b.presence.online([before, meanwhile])).toEqual(new Set([meanwhile]));
    } finally {
      for (const n of nodes.splice(0)) await n.close();
      for (const client of clients.splice(0)) await closeRedis(client);
      own.stop();
    }
  });

  it('turns the users of a node that died offline within the TTL, reported once by one survivor', async () => {
    const a = await node();
    const c = await node();
    const b = await node();
    const [onlyOnB, alsoOnA] = [fresh(), fresh()];
    await b.presence.connect(onlyOnB, 'b1');
    await b.presence.connect(onlyOnB, 'b2');
    await b.presence.connect(alsoOnA, 'b3');
    await a.presence.connect(alsoOnA, 'a1');
    expect(await a.presence.online([onlyOnB, alsoOnA])).toEqual(new Set([onlyOnB, alsoOnA]));

    // B dies: no more heartbeats, nothing cleaned up (its Redis connection just goes away).
    b.redis.disconnect();
    const elapsed = await until(async () => (await a.presence.online([onlyOnB])).size === 0, TTL * 1000 + 500);
    expect(elapsed).toBeLessThanOrEqual(TTL * 1000 + 500);
    expect(await c.presence.online([alsoOnA])).toEqual(new Set([alsoOnA]));

    // A survivor's heartbeat reaps B and reports its users that have no live socket left.
    await until(() => [...a.transitions, ...c.transitions].some(([ids]) => ids.includes(onlyOnB)), TTL * 1000 + 500);
    await settle(TTL * 500);
    const reported = [...a.transitions, ...c.transitions].filter(([ids]) => ids.includes(onlyOnB));
    expect(reported).toEqual([[expect.arrayContaining([onlyOnB]), false]]);
    expect([...a.transitions, ...c.transitions].some(([ids]) => ids.includes(alsoOnA))).toBe(false);
    expect(await a.redis.hgetall(`${prefix}user:${onlyOnB}`)).toEqual({});
    expect(await a.redis.hgetall(`${prefix}user:${alsoOnA}`)).toEqual({ a1: a.presence.nodeId });
    expect(await a.redis.sismember(`${prefix}nodes`, b.presence.nodeId)).toBe(0);
  });

  it('registers its sockets again when Redis lost them (a stalled node reaped by the others)', async () => {
    const a = await node();
    const b = await node();
    const user = fresh();
    await b.presence.connect(user, 'b1');
    b.redis.disconnect();
    await until(() => a.transitions.some(([ids, on]) => ids.includes(user) && !on), TTL * 1000 + 500);
    expect(await a.presence.online([user])).toEqual(new Set());

    // B is back: its next heartbeat finds its key gone and registers its connected sockets again.
    await b.redis.connect();
    await until(() => b.transitions.some(([ids, on]) => ids.includes(user) && on), TTL * 1000);
    expect(await a.presence.online([user])).toEqual(new Set([user]));
  });

  it('leaves cleanly on close: its sockets and its node key are gone at once', async () => {
    const a = await node();
    const b = await node();
    const user = fresh();
    await b.presence.connect(user, 'b1');
    await until(async () => (await a.presence.online([user])).size === 1, 1000, 5);
    await b.presence.close();
    // The other nodes hear of it from the transition its leaving published.
    await until(async () => (await a.presence.online([user])).size === 0, 1000, 5);
    expect(await a.redis.exists(`${prefix}node:${b.presence.nodeId}`, `${prefix}sockets:${b.presence.nodeId}`)).toBe(0);
    expect(await a.redis.sismember(`${prefix}nodes`, b.presence.nodeId)).toBe(0);
  });
});

describe('two in-process nodes on one Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = { REDIS_URL: redisUrl, PRESENCE_TTL_SECONDS: String(TTL), SOCKET_RECOVERY_WINDOW_MS: '60000' };
    a = await startApp(env);
    b = await startApp(env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  /** A chat of these users written with SQL (the chats routes are under test elsewhere). */
  async function chatOf(users: TestUser[]): Promise<string> {
    const chatId = newId();
    const db = a.deps.database.db;
    await db.execute(sql`insert into chats (id, is_group, creator_id, name, category, participants_count)
      values (${chatId}, true, ${users[0].id}, 'Presence test', 'Study', ${users.length})`);
    for (const [i, user] of users.entries()) {
      await db.execute(sql`insert into participants (id, chat_id, user_id, is_admin, is_group)
        values (${newId()}, ${chatId}, ${user.id}, ${i === 0}, true)`);
    }
    return chatId;
  }

  it('/health reports redis ok', async () => {
    const res = await a.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', db: 'ok', redis: 'ok' });
  });

  it('delivers a notify on node B to the sockets on node A, but never to the excluded socket', async () => {
    const u = await a.user();
    const onA1 = await a.socket(u);
    const onA2 = await a.socket(u);
    const excluded = record(onA1, 'chat-read');
    const got = nextEvent(onA2, 'chat-read');
    b.deps.realtime.notify([u.id], 'chat-read', { chat: 'x', lastReadAt: 'y' }, { exceptSocket: onA1.id });
    expect(await got).toEqual({ chat: 'x', lastReadAt: 'y' });
    await settle(200);
    expect(excluded).toEqual([]);
  });

  it('announces presence across nodes and counts it on both', async () => {
    const [x, y] = [await a.user(), await b.user()];
    await chatOf([x, y]);
    const ySocket = await b.socket(y);
    const online = nextEvent(ySocket, 'presence');
    const xSocket = await a.socket(x);
    expect(await online).toEqual({ user: x.id, isOnline: true });
    expect(await b.deps.realtime.onlineUsers([x.id, y.id])).toEqual(new Set([x.id, y.id]));
    expect(await a.deps.realtime.onlineUsers([x.id, y.id])).toEqual(new Set([x.id, y.id]));

    const offline = nextEvent(ySocket, 'presence');
    xSocket.disconnect();
    expect(await offline).toEqual({ user: x.id, isOnline: false });
    expect(await b.deps.realtime.onlineUsers([x.id])).toEqual(new Set());
  });

  it('relays typing from a socket on node A to the peers on node B', async () => {
    const [x, y] = [await a.user(), await b.user()];
    const chat = await chatOf([x, y]);
    const xSocket = await a.socket(x);
    const ySocket = await b.socket(y);
    const typing = nextEvent(ySocket, 'typing');
    xSocket.emit('typing', { chat });
    expect(await typing).toEqual({ chat, user: x.id });
  });

  it('recovers a dropped connection on the other node with the events sent meanwhile (streams adapter)', async () => {
    const u = await a.user();
    const first = connect(a.url, { auth: { token: u.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve) => first.once('connect', () => resolve()));
    // An event before the drop gives the client an offset in the stream.
    const before = nextEvent(first, 'message-created');
    b.deps.realtime.notify([u.id], 'message-created', { n: 0 });
    expect(await before).toEqual({ n: 0 });
    const session = first as unknown as { _pid: string; _lastOffset: string };
    expect(session._pid).toEqual(expect.any(String));
    expect(session._lastOffset).toEqual(expect.any(String));

    const firstId = first.id;
    first.io.engine.close();
    await settle(200);
    b.deps.realtime.notify([u.id], 'message-created', { n: 1 });
    await settle(50);
    a.deps.realtime.notify([u.id], 'message-created', { n: 2 });
    await settle(200);

    // The client comes back through another node (as behind a load balancer) with its session.
    const again: Socket = connect(b.url, {
      auth: { token: u.token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
    });
    Object.assign(again, { _pid: session._pid, _lastOffset: session._lastOffset });
    const missed = record(again, 'message-created');
    again.connect();
    await new Promise<void>((resolve) => again.once('connect', () => resolve()));
    await settle(200);
    expect(again.recovered).toBe(true);
    expect(again.id).toBe(firstId);
    expect(missed).toEqual([{ n: 1 }, { n: 2 }]);
    again.disconnect();
  });
});

describe('connection state recovery on one node (SOCKET_RECOVERY_WINDOW_MS)', () => {
  for (const adapter of ['in-memory', 'redis streams'] as const) {
    it(`a client that drops and reconnects gets the events sent meanwhile (${adapter} adapter)`, async () => {
      const t = await startApp({
        SOCKET_RECOVERY_WINDOW_MS: '60000',
        ...(adapter === 'redis streams' ? { REDIS_URL: redisUrl } : {}),
      });
      try {
        const u = await t.user();
        const socket = connect(t.url, {
          auth: { token: u.token },
          transports: ['websocket'],
          forceNew: true,
          reconnectionDelay: 100,
          reconnectionDelayMax: 200,
        });
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        const seen = record(socket, 'chat-read');
        t.deps.realtime.notify([u.id], 'chat-read', { n: 0 });
        await settle(200);
        expect(seen).toEqual([{ n: 0 }]);

        const dropped = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
        // The connection drops under the client (as on a network change); it reconnects by itself.
        socket.io.engine.close();
        expect(await dropped).toBe('forced close');
        t.deps.realtime.notify([u.id], 'chat-read', { n: 1 });
        t.deps.realtime.notify([u.id], 'chat-read', { n: 2 });

        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        await settle(200);
        expect(socket.recovered).toBe(true);
        expect(seen).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
        socket.disconnect();
      } finally {
        await t.close();
      }
    });
  }
});

describe('a Redis outage', () => {
  it('a socket that closes while Redis is down (its recovery session cannot be kept) does not take the node down', async () => {
    const redis = await startRedis();
    const t = await startApp({ SOCKET_RECOVERY_WINDOW_MS: '60000', REDIS_URL: redis.url });
    try {
      const u = await t.user();
      const socket = await t.socket(u);
      redis.stop();
      socket.io.engine.close(); // a dropped connection: the server keeps its session for recovery
      // Longer than the two reconnect attempts after which a command fails (src/realtime/redis.ts).
      await settle(1500);
      const health = await t.app.inject({ url: '/health' });
      expect(health.json()).toEqual({ status: 'degraded', db: 'ok', redis: 'down' });
    } finally {
      await t.close();
      redis.stop();
    }
  });

  it('chats are still listed and messages still posted: users with a socket on this node count as online, the others get a push', async () => {
    const redis = await startRedis();
    const t = await startApp({ REDIS_URL: redis.url });
    try {
      const [a, b, c] = [await t.user(), await t.user(), await t.user()];
      await withDevices(t, a, b, c);
      const chat = await group(t, a, [b, c]);
      const socket = await t.socket(b);
      redis.stop();
      await settle(300);

      const list = await listChats(t, c);
      const online = Object.fromEntries(list.chats[0].participants.map((p: any) => [p.user._id, p.user.isOnline]));
      expect(online).toEqual({ [a.id]: false, [b.id]: true, [c.id]: false });
      const one = await t.app.inject({ url: `/chats/${chat._id}`, headers: c.auth });
      expect(one.statusCode).toBe(200);

      // The adapter emits to local sockets once its stream write has failed: late, but delivered.
      const seen = nextEvent(socket, 'message-created', 10_000);
      const started = Date.now();
      const message = await postMessage(t, a, chat._id, 'during the outage');
      expect(Date.now() - started).toBeLessThan(1000);
      expect((await seen).message).toEqual(message);
      const pushes = await dbRows<{ user_id: string }>(t, sql`select user_id from push_outbox where chat_id = ${chat._id} and event = 'message-created'`);
      expect(pushes.map((row) => row.user_id.trim())).toEqual([c.id]);
    } finally {
      await t.close();
      redis.stop();
    }
  });
});
