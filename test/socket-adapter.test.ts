// The Socket.IO streams adapter as the service sets it up (src/realtime/redis.ts
// createSocketAdapter): events of one node reach the sockets of another, in order, and the
// stream is read in batches (STREAM_READ_PAUSE_MS) rather than one XREAD per broadcast, every node
// hands its sockets the broadcasts in stream order (its own among the others'), and a node's own
// entries come back to it undecoded.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aroundCalls, createSocketAdapter, KEY_PREFIX, STREAM_READ_PAUSE_MS } from '../src/realtime/redis.js';
import { settle } from './helpers/app.js';
import { waitFor } from './chats-fixtures.js';
import { startRedis, type RunningServer } from './helpers/servers.js';

const quiet = pino({ level: 'silent' });

/**
 * The order in which the broadcasts of `event` are in the stream, by their first argument: the
 * order every node owes its sockets. Two nodes' broadcasts sent a millisecond apart are in the
 * stream in the order Redis took their XADDs, which a busy machine may swap.
 */
async function streamOrder(redis: Redis, event: string): Promise<unknown[]> {
  const entries = (await redis.xrange(`${KEY_PREFIX}socket.io`, '-', '+')) as Array<[string, string[]]>;
  const order: unknown[] = [];
  for (const [, fields] of entries) {
    const entry: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
    if (entry.type !== '3') continue;
    const [name, value] = JSON.parse(entry.data).packet.data;
    if (name === event) order.push(value);
  }
  return order;
}

/** XREAD calls Redis has answered so far (INFO commandstats). */
async function xreadCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(/cmdstat_xread:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('socket adapter over Redis streams', () => {
  // A Redis of its own: the XREAD count must be this test's alone.
  let redis: RunningServer;
  const clients: Redis[] = [];
  let http: HttpServer;
  let nodeA: Server;
  let nodeB: Server;
  let client: Socket;

  beforeAll(async () => {
    redis = await startRedis();
    const redisFor = () => {
      const r = new Redis(redis.url);
      clients.push(r);
      return r;
    };
    http = createServer();
    nodeA = new Server(http, { adapter: createSocketAdapter(redisFor(), quiet) });
    nodeB = new Server({ adapter: createSocketAdapter(redisFor(), quiet) });
    nodeA.on('connection', (socket) => socket.join('room'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], forceNew: true });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await settle(100); // the room joined, both readers blocked in their first XREAD
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await nodeA?.of('/').adapter.close();
    await nodeB?.of('/').adapter.close();
    nodeA?.close();
    for (const r of clients) r.disconnect();
    redis?.stop();
  });

  it('delivers a burst of broadcasts from the other node in order, reading the stream in batches', async () => {
    const counter = clients[0];
    const before = await xreadCalls(counter);
    const received: number[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('tick', (n: number) => {
        received.push(n);
        if (received.length === 60) resolve();
      }),
    );
    const started = performance.now();
    // Spread over time, as broadcasts of separate requests are: one a millisecond, on a timetable,
    // so that timers running late on a busy machine do not stretch the burst (CI once took 89
    // XREADs over a burst stretched by late 1 ms timers).
    for (let n = 0; n < 60; n++) {
      const wait = started + n - performance.now();
      if (wait > 0) await settle(wait);
      nodeB.to('room').emit('tick', n);
    }
    await all;
    const elapsed = performance.now() - started;
    expect(received).toEqual(Array.from({ length: 60 }, (_, n) => n));
    // Two readers (one per node), each at most one XREAD per pause, plus the ones in flight.
    const calls = (await xreadCalls(counter)) - before;
    expect(calls).toBeLessThanOrEqual(2 * (Math.ceil(elapsed / STREAM_READ_PAUSE_MS) + 2));
    // Without the pause each reader asks again as soon as it got an entry: about one XREAD per
    // broadcast per node (120 here).
    expect(calls).toBeLessThan(60);
  });

  it("drops a node's own broadcasts read back from the stream before decoding them; the other node's are handled", async () => {
    // What reaches ClusterAdapter.onMessage, the step after decoding, on each node.
    const handled = { a: [] as string[], b: [] as string[] };
    const restore: Array<() => void> = [];
    for (const [name, node] of [['a', nodeA], ['b', nodeB]] as const) {
      const adapter = node.of('/').adapter as unknown as { uid: string; onMessage: (message: { uid: string }, offset?: string) => unknown };
      const onMessage = adapter.onMessage;
      adapter.onMessage = function (message, offset) {
        handled[name].push(message.uid === adapter.uid ? 'own' : 'other');
        return onMessage.call(this, message, offset);
      };
      restore.push(() => delete (adapter as { onMessage?: unknown }).onMessage);
    }
    try {
      const got = new Promise<number>((resolve) => client.once('mark', resolve));
      nodeA.to('room').emit('mark', 7);
      expect(await got).toBe(7); // delivered by node A itself
      await settle(STREAM_READ_PAUSE_MS * 20); // both readers have read the entry back
      expect(handled.b).toContain('other');
      expect(handled.a).not.toContain('own');
    } finally {
      for (const undo of restore) undo();
    }
  });

  it("gives a socket the broadcasts of both nodes in the order they were sent, its own node's among the other's", async () => {
    const received: number[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('turn', (n: number) => {
        received.push(n);
        if (received.length === 60) resolve();
      }),
    );
    // One node after the other, at least a millisecond apart, so that each XADD is in Redis before
    // the next is sent. Node A's own broadcasts used to reach its socket at once, node B's when A's
    // reader got them, up to STREAM_READ_PAUSE_MS later.
    for (let n = 0; n < 60; n++) {
      (n % 2 === 0 ? nodeB : nodeA).to('room').emit('turn', n);
      await settle(1);
    }
    await all;
    const order = await streamOrder(clients[0], 'turn');
    expect([...order].sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 60 }, (_, n) => n));
    expect(received).toEqual(order);
  });
});

describe('connection state recovery through another node', () => {
  let redis: RunningServer;
  const clients: Redis[] = [];
  const https: HttpServer[] = [];
  let nodeA: Server;
  let nodeB: Server;
  /** Called once, when node B's restore reads the stream and finds nothing newer: its reply waits. */
  let onRestoreCaughtUp: (() => void) | null = null;

  beforeAll(async () => {
    redis = await startRedis();
    const node = async (client: Redis) => {
      const http = createServer();
      https.push(http);
      const server = new Server(http, {
        adapter: createSocketAdapter(client, quiet),
        connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true },
      });
      server.on('connection', (socket) => socket.join('room'));
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return server;
    };
    const plain = new Redis(redis.url);
    // Node B's commands: the XRANGE of a restore that reached the end of the stream answers 40 ms
    // late, and the test broadcasts meanwhile, between the restore's read and the socket's join.
    const slowEnd = new Redis(redis.url);
    clients.push(plain, slowEnd);
    nodeA = await node(plain);
    nodeB = await node(
      aroundCalls(slowEnd, (property, call) => {
        const result = call();
        if (property !== 'xrange') return result;
        return (result as Promise<unknown[]>).then(async (entries) => {
          if (entries.length === 0 && onRestoreCaughtUp) {
            const caughtUp = onRestoreCaughtUp;
            onRestoreCaughtUp = null;
            caughtUp();
            await settle(40);
          }
          return entries;
        });
      }),
    );
  }, 30_000);

  afterAll(async () => {
    await nodeA?.of('/').adapter.close();
    await nodeB?.of('/').adapter.close();
    for (const http of https) http.close();
    for (const r of clients) r.disconnect();
    redis?.stop();
  });

  const url = (server: HttpServer) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  it('the socket gets every broadcast once, in order, also those sent while its session is restored', async () => {
    const client = connect(url(https[0]), { transports: ['websocket'], forceNew: true, reconnectionDelay: 20, reconnectionDelayMax: 20 });
    const received: number[] = [];
    client.on('n', (n: number) => received.push(n));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await settle(50); // in the room, both readers blocked in XREAD
    nodeB.to('room').emit('n', 0); // its offset is what the client recovers from
    await waitFor(async () => received.length === 1);

    let next = 1;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        (next % 2 === 0 ? nodeA : nodeB).to('room').emit('n', next++);
        await settle(1);
      }
    };
    const burstSent = new Promise<void>((resolve) => {
      onRestoreCaughtUp = () => void send(10).then(resolve);
    });
    const recovered = new Promise<boolean>((resolve) => client.once('connect', () => resolve(client.recovered)));
    // The transport drops; the client comes back through node B.
    (client.io as unknown as { uri: string }).uri = url(https[1]);
    client.io.engine.close();
    await send(5); // while it is away
    expect(await recovered).toBe(true);
    await burstSent;
    await send(5); // after
    const all = Array.from({ length: next }, (_, n) => n);
    await waitFor(async () => received.length >= all.length);
    await settle(100);
    client.disconnect();
    // Each once, in the stream's order (which is the sending order but where a busy machine let
    // Redis take two XADDs sent a millisecond apart the other way round).
    const order = await streamOrder(clients[0], 'n');
    expect([...order].sort((x, y) => Number(x) - Number(y))).toEqual(all);
    expect(received).toEqual(order);
  });
});
