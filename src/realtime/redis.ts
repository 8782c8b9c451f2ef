// Redis for scale-out (REDIS_URL): one command connection per node, shared by presence, rate-limit
// counters and the Socket.IO streams adapter (which opens its own reader and subscriber copies).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { ServerOptions } from 'socket.io';
import { Adapter, MessageType, type BroadcastOptions, type ClusterMessage, type Session } from 'socket.io-adapter';
import type { ChatListCache } from '../chats/list-cache.js';
import { roomUser } from './server.js';

export type { Redis };

const BROADCAST = MessageType.BROADCAST;

/** Every key this service writes starts with this, so one Redis can hold other things too. */
export const KEY_PREFIX = 'chat:';

/**
 * Opens the connection and waits until it is ready: a node whose Redis is configured but not
 * reachable must not start, or its sockets would silently miss every event sent from other nodes.
 */
export async function connectRedis(url: string, log: FastifyBaseLogger): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5000,
    // A command fails after two reconnect attempts instead of hanging a request for the ~20
    // attempts of the default; rate limiting skips on error and /health answers "down".
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  logErrorsOnce(redis, log, 'redis connection');
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`REDIS_URL: cannot connect to ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return redis;
}

/**
 * ioredis repeats the same error on every reconnect attempt: each cause is logged once, and the
 * connection's return after one.
 */
function logErrorsOnce(client: Redis, log: FastifyBaseLogger, what: string): void {
  let lastError = '';
  client.on('error', (error: Error) => {
    if (error.message !== lastError) log.warn({ err: error }, `${what} error`);
    lastError = error.message;
  });
  client.on('ready', () => {
    if (lastError) log.info(`${what} restored`);
    lastError = '';
  });
}

/** 'ok' when Redis answers PING within the time; a disconnected client answers 'down' at once. */
export async function pingRedis(redis: Redis, timeoutMs = 1000): Promise<'ok' | 'down'> {
  if (redis.status !== 'ready') return 'down';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), timeoutMs);
  });
  try {
    return await Promise.race([redis.ping().then(() => 'ok' as const, () => 'down' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT waits for the replies of commands already sent (a persisted socket session, a counter). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/**
 * The Socket.IO adapter over Redis Streams rather than @socket.io/redis-adapter (pub/sub): it is
 * the one that supports connection state recovery across nodes (the session is kept in Redis and
 * the missed packets are read back from the stream), so a client that reconnects, to any node,
 * within SOCKET_RECOVERY_WINDOW_MS gets the events sent meanwhile.
 */
export function createSocketAdapter(redis: Redis, log: FastifyBaseLogger): NonNullable<ServerOptions['adapter']> {
  const commands = handledCommands(redis, log);
  const stream = { client: commands, name: `${KEY_PREFIX}socket.io` };
  const create = createAdapter(commands, {
    streamName: stream.name,
    channelPrefix: `${KEY_PREFIX}socket.io`,
    sessionKeyPrefix: `${KEY_PREFIX}sio:session:`,
    // The stream keeps about the last 10,000 broadcasts: the recovery window is bounded by it too
    // (a client away longer than the stream reaches back reconnects without recovery).
    maxLen: 10_000,
    // Payloads are JSON (ids, ISO dates): skip the binary scan of every packet.
    onlyPlaintext: true,
  });
  // Socket.IO calls it with `new`: a function, not an arrow, whose returned object is the adapter.
  return function (nsp: unknown) {
    return inStreamOrder(create(nsp), stream);
  } as unknown as NonNullable<ServerOptions['adapter']>;
}

type StreamsAdapter = ReturnType<ReturnType<typeof createAdapter>>;

/** What the handling below uses of ClusterAdapter (socket.io-adapter 2.5), protected there. */
interface ClusterParts {
  uid: string;
  nsp: { name: string };
  onMessage(message: ClusterMessage, offset: string): void;
  publishAndReturnOffset(message: { type: number; data: unknown }): Promise<string>;
  addOffsetIfNecessary(packet: unknown, opts: BroadcastOptions, offset: string): void;
}

/**
 * How long an entry of this node's own, read before its XADD's reply came back, holds the entries
 * after it; and how long an own broadcast waits for the reader to reach its entry. Past either,
 * delivery goes on without the other (a reader or a command connection that lost Redis).
 */
const OWN_ENTRY_WAIT_MS = 1000;

const NO_SOCKETS: string[] = [];

/**
 * Every broadcast reaches this node's sockets in the order of the stream, this node's own among
 * the others'. As the adapter comes, a node gives its own broadcasts to its sockets as soon as the
 * XADD answers, and the other nodes' when its reader gets them, up to STREAM_READ_PAUSE_MS later:
 * - a user posting through one node and then through another could see the second message first;
 * - presence changes announced by two nodes could end in the wrong state for a watcher;
 * - a socket whose last packet (the offset it recovers from) was a local one, sent before a
 *   remote packet of a lower offset had arrived, lost that packet in its recovery, which replays
 *   only what comes after the offset.
 * Here an own broadcast waits, after its XADD, until the reader reaches its entry; the reader hands
 * over entries one after the other, this node's own without decoding them (the packet is still in
 * memory: for a message to 1,000 members, a 30 KB JSON.parse less).
 */
function inStreamOrder(adapter: StreamsAdapter, stream: { client: Redis; name: string }): StreamsAdapter {
  const cluster = adapter as unknown as ClusterParts;
  const uid = cluster.uid;
  const decodeAndHandle = adapter.onRawMessage;
  // The streams adapter's own statics: an entry's decoding, and the id after an entry's.
  const { decode, nextOffset } = adapter.constructor as unknown as { decode(raw: unknown): ClusterMessage; nextOffset(offset: string): string };
  const restore = adapter.restoreSession;
  const deliverHere = (packet: any, opts: BroadcastOptions) => Adapter.prototype.broadcast.call(adapter, packet, opts);
  /** Entries read, in stream order, not handled yet. */
  const read: Array<{ raw: { uid?: unknown; type?: unknown } | null; offset: string }> = [];
  /** Own broadcasts whose XADD answered, by offset, until the reader reaches them. */
  const waiting = new Map<string, (skip?: string[]) => void>();
  /** Own broadcasts given to the sockets without their entry (OWN_ENTRY_WAIT_MS), by offset. */
  const deliveredEarly = new Set<string>();
  let held: { offset: string; timer: NodeJS.Timeout; expired: boolean } | null = null;
  /** The last entry handed over: every entry up to it has been, and none after it. */
  let position = '0-0';
  /** Recovered sockets whose replay reaches past `position`: the entries up to it are not theirs again. */
  const replayedTo = new Map<string, string>();
  // An entry that throws is dropped, as the adapter drops one it cannot decode: it must not stop
  // the entries after it.
  const handled = (work: () => unknown) => {
    try {
      work();
    } catch {
      // dropped
    }
  };
  /** The recovered sockets that must not get the entry at `offset`, their replay holding it. */
  const replayedSockets = (offset: string): string[] => {
    const sids: string[] = [];
    for (const [sid, until] of replayedTo) {
      if (compareOffsets(offset, until) <= 0) sids.push(sid);
      else replayedTo.delete(sid);
    }
    return sids;
  };

  const handleRead = () => {
    while (read.length > 0) {
      const { raw, offset } = read[0];
      const skip = replayedTo.size > 0 ? replayedSockets(offset) : NO_SOCKETS;
      if (raw?.uid !== uid) {
        if (skip.length === 0) handled(() => decodeAndHandle.call(adapter, raw as never, offset));
        else {
          handled(() => {
            const message = decode(raw) as ClusterMessage & { data?: { opts?: { except?: string[] } } };
            if (message.type === BROADCAST) message.data?.opts?.except?.push(...skip);
            cluster.onMessage(message, offset);
          });
        }
      } else if (raw.type === String(BROADCAST)) {
        const deliver = waiting.get(offset);
        if (deliver) {
          waiting.delete(offset);
          handled(() => deliver(skip));
        } else if (!deliveredEarly.delete(offset)) {
          // Read before its XADD answered: the entries after it wait for that answer.
          if (!held || held.offset !== offset) {
            if (held) clearTimeout(held.timer);
            const hold = { offset, expired: false, timer: setTimeout(() => ((hold.expired = true), handleRead()), OWN_ENTRY_WAIT_MS) };
            hold.timer.unref();
            held = hold;
          }
          if (!held.expired) return;
        }
      }
      if (held?.offset === offset) {
        clearTimeout(held.timer);
        held = null;
      }
      position = offset;
      read.shift();
    }
  };

  adapter.onRawMessage = function (raw, offset) {
    read.push({ raw: raw as never, offset });
    handleRead();
  };

  adapter.broadcast = async function (packet: any, opts: BroadcastOptions) {
    if (opts.flags?.local) return deliverHere(packet, opts);
    let offset: string;
    try {
      offset = await cluster.publishAndReturnOffset({
        type: BROADCAST,
        data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags } },
      });
    } catch {
      // As ClusterAdapter does: this node's sockets get it still, the other nodes' cannot.
      return deliverHere(packet, opts);
    }
    cluster.addOffsetIfNecessary(packet, opts, offset);
    const deliver = (skip: string[] = []) =>
      deliverHere(packet, skip.length === 0 ? opts : { ...opts, except: new Set([...(opts.except ?? []), ...skip]) });
    waiting.set(offset, deliver);
    setTimeout(() => {
      if (waiting.get(offset) !== deliver) return;
      waiting.delete(offset);
      if (deliveredEarly.size >= 10_000) deliveredEarly.clear();
      deliveredEarly.add(offset);
      deliver();
    }, OWN_ENTRY_WAIT_MS).unref();
    handleRead();
  };

  /**
   * Socket.IO restores a session from the stream (the entries after the client's offset), then the
   * socket joins its rooms, after the last await here. Entries handed over meanwhile would miss
   * it, and entries of the replay not handed over yet would reach it a second time. So the replay
   * is made to end exactly at `position` when the socket joins: the entries handed over while it
   * was read are read too, and a replay reaching further keeps those entries from this socket.
   */
  adapter.restoreSession = async function (pid, offset) {
    const session = (await restore.call(adapter, pid, offset)) as Session & { missedPackets: unknown[][] };
    const last = session.missedPackets.at(-1)?.at(-1);
    let until = typeof last === 'string' ? last : offset;
    for (let i = 0; i < 100 && compareOffsets(position, until) > 0; i++) {
      const to = position;
      const entries = (await stream.client.xrange(stream.name, nextOffset(until), to)) as Array<[string, string[]]>;
      for (const [id, fields] of entries) {
        const raw: Record<string, string> = {};
        for (let f = 0; f < fields.length; f += 2) raw[fields[f]] = fields[f + 1];
        if (raw.nsp !== cluster.nsp.name || raw.type !== String(BROADCAST)) continue;
        const { packet, opts } = (decode(raw) as { data: { packet: { data: unknown[] }; opts: { rooms: string[]; except: string[] } } }).data;
        if (sessionGets(session.rooms, opts)) session.missedPackets.push([...packet.data, id]);
      }
      until = to;
    }
    if (compareOffsets(until, position) > 0) replayedTo.set(session.sid, until);
    return session;
  };
  return adapter;
}

/** Stream entry ids (`<ms>-<seq>`) in their order. */
function compareOffsets(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number);
  const [bMs, bSeq] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

/** Whether a socket in `rooms` gets a broadcast to `opts` (the streams adapter's own rule). */
function sessionGets(rooms: string[], opts: { rooms: string[]; except: string[] }): boolean {
  return (opts.rooms.length === 0 || rooms.some((room) => opts.rooms.includes(room))) && rooms.every((room) => !opts.except.includes(room));
}

/**
 * The streams adapter sends some commands without waiting for them: the session of a socket that
 * dropped (SET, kept for the recovery window), its subscription (SUBSCRIBE on its own copy of the
 * client). While Redis is down those fail, and in Node an unhandled rejection ends the process: one
 * dropped connection during an outage would take the whole node down. The adapter gets the client
 * (and the copies it makes) through this view, which marks the promise of every command handled;
 * whoever awaits it still gets the error. A lost session only means that client reconnects without
 * recovery and reloads, as after a longer absence.
 */
function handledCommands(redis: Redis, log: FastifyBaseLogger): Redis {
  return aroundCalls(redis, (property, call) => {
    if (property === 'duplicate') return handledCommands(call() as Redis, log);
    if (property === 'xread') return afterPause(call);
    const result = call();
    if (result instanceof Promise) {
      result.catch((error: Error) => log.debug({ err: error, command: property }, 'socket adapter redis command failed'));
    }
    return result;
  });
}

/**
 * The adapter reads the stream in a loop: XREAD BLOCK, hand the entries over, XREAD again at
 * once. Under load every broadcast then costs each node a read command and a reply of one entry,
 * its own broadcasts included (read back and dropped). Each XREAD is sent after this pause
 * instead, so what the nodes broadcast meanwhile comes back in one reply: events from another
 * node reach its sockets up to this much later; events to a node's own sockets do not go through
 * the stream. The pause also keeps the loop from spinning when Redis answers every read with an
 * error.
 */
export const STREAM_READ_PAUSE_MS = 5;

const afterPause = (call: () => unknown): Promise<unknown> => sleep(STREAM_READ_PAUSE_MS).then(call);

/**
 * `redis` for a library that gets the client and calls its methods itself: every method call goes
 * through `around` (the method's name and the call, on the real client).
 */
export function aroundCalls(redis: Redis, around: (property: string | symbol, call: () => unknown, args: unknown[]) => unknown): Redis {
  return new Proxy(redis, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => around(property, () => value.apply(target, args), args);
    },
  });
}

/**
 * Every socket event to a user is an invalidation of that user's cached chat lists
 * (src/realtime/server.ts notify): on the other nodes, their lists are dropped (or patched:
 * ChatListCache.heard) when the adapter hands this node the event from the stream, just before it
 * goes to the local sockets, so a client reacting to it cannot get the old list from this node's
 * cache, and no separate message per event is published (one Redis command and, for a group of 1,000, a 25 KB message less per
 * message posted). Hooked on the adapter's onMessage (socket.io-adapter 2.5 ClusterAdapter), which
 * gets every message of the other nodes; a lagging stream reader delays the event and its
 * invalidation alike.
 */
export function listsHearRemoteEvents(adapter: unknown, cache: ChatListCache): void {
  const target = adapter as { uid?: string; onMessage?: (message: any, offset?: string) => unknown };
  const original = target.onMessage;
  if (typeof original !== 'function') throw new Error('socket adapter: no onMessage to hook the chat list cache on');
  target.onMessage = function (this: unknown, message: any, offset?: string) {
    if (message?.type === BROADCAST && message.uid !== target.uid) {
      const [event, payload] = message.data?.packet?.data ?? [];
      const rooms = message.data?.opts?.rooms;
      if (Array.isArray(rooms)) {
        const users = rooms.map(roomUser).filter((id: string | null): id is string => id !== null);
        if (users.length > 0) cache.heard(users, typeof event === 'string' ? event : '', payload);
      }
    }
    return original.call(target, message, offset);
  };
}

/**
 * Invalidations of cached chat lists between nodes (src/chats/list-cache.ts), on
 * channelOf(redis, CHAT_LISTS_CHANNEL).
 */
export const CHAT_LISTS_CHANNEL = `${KEY_PREFIX}chat-lists:stale`;

/**
 * The channel `name` of the database REDIS_URL selects: Redis pub/sub channels are shared by all
 * the databases of a server, so deployments on one server with different database numbers would
 * otherwise hear each other.
 */
export function channelOf(redis: Redis, name: string): string {
  return `${name}:db${redis.options.db ?? 0}`;
}

interface StaleListsMessage {
  /** The publishing node: it has dropped the lists already and ignores its own messages. */
  node: string;
  users: string[];
  /** Their own presence changed: their lists read isOnline again instead of being dropped. */
  presence?: true;
}

export interface ChatListBus {
  close(): Promise<void>;
}

/**
 * Every invalidate() of `cache` (the changes that send the user no event) is published on
 * the chat lists channel, on the command connection that also carries the socket adapter's XADDs. A
 * dedicated subscriber connection applies the other nodes' invalidations here. While it is down,
 * invalidations are missed: the cache stops serving, and starts again empty once the subscription
 * is back.
 */
export async function connectChatListBus(redis: Redis, cache: ChatListCache, log: FastifyBaseLogger): Promise<ChatListBus> {
  const node = randomUUID();
  const channel = channelOf(redis, CHAT_LISTS_CHANNEL);
  cache.suspend();
  const subscription = await subscribeChannel(redis, channel, log, {
    name: 'chat list invalidations',
    message(text) {
      let message: StaleListsMessage;
      try {
        message = JSON.parse(text) as StaleListsMessage;
      } catch {
        return;
      }
      if (message.node === node || !Array.isArray(message.users)) return;
      if (message.presence === true) cache.markPresence(message.users);
      else cache.drop(message.users);
    },
    up: () => cache.resume(),
    down: () => cache.suspend(),
  });

  cache.onInvalidate((users, kind) => {
    const message: StaleListsMessage = kind === 'presence' ? { node, users, presence: true } : { node, users };
    redis.publish(channel, JSON.stringify(message)).catch((error: Error) => {
      // The other nodes keep these lists until CHAT_LIST_CACHE_TTL_MS at most.
      log.warn({ err: error, users: users.length }, 'chat list invalidation not published');
    });
  });

  return subscription;
}

export interface ChannelHandlers {
  /** What the subscription is for, in log lines. */
  name: string;
  /** A message on the channel, in the order Redis published them. */
  message(text: string): void;
  /**
   * Subscribed: at start and after every reconnect. Messages published from here on arrive; those
   * published while the connection was down are lost (down() was called when it went).
   */
  up(): void | Promise<void>;
  /** The connection closed: messages are missed until the next up(). */
  down(): void;
}

/**
 * One channel on a subscriber connection of its own (a copy of `redis`). Resolves once subscribed
 * and up() has run; rejects if that fails (a node must not start without its subscriptions).
 */
export async function subscribeChannel(
  redis: Redis,
  channel: string,
  log: FastifyBaseLogger,
  handlers: ChannelHandlers,
): Promise<{ close(): Promise<void> }> {
  // autoResubscribe is off so that this is the one place that subscribes (and calls up()).
  const subscriber = redis.duplicate({ lazyConnect: true, autoResubscribe: false });
  logErrorsOnce(subscriber, log, `redis subscriber (${handlers.name})`);
  subscriber.on('message', (from: string, text: string) => {
    if (from === channel) handlers.message(text);
  });
  const subscribe = async () => {
    await subscriber.subscribe(channel);
    await handlers.up();
  };

  try {
    await subscriber.connect();
    await subscribe();
  } catch (error) {
    subscriber.disconnect();
    throw new Error(`REDIS_URL: cannot subscribe to ${handlers.name}: ${(error as Error).message}`);
  }
  subscriber.on('close', () => handlers.down());
  subscriber.on('ready', () => {
    subscribe().catch((error: Error) => log.warn({ err: error }, `redis subscribe failed (${handlers.name}); retried on reconnect`));
  });

  return {
    async close() {
      subscriber.removeAllListeners('ready');
      subscriber.removeAllListeners('close');
      await closeRedis(subscriber);
    },
  };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'REDIS_URL';
  }
}
