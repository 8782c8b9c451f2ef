// Redis for scale-out (REDIS_URL): one command connection per node, shared by presence, rate-limit
// counters and the Socket.IO streams adapter (which opens its own reader and subscriber copies).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { ServerOptions } from 'socket.io';
import type { ChatListCache } from '../chats/list-cache.js';
import { roomUser } from './server.js';

export type { Redis };

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
  const create = createAdapter(handledCommands(redis, log), {
    streamName: `${KEY_PREFIX}socket.io`,
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
    return ownEntriesUndecoded(create(nsp));
  } as unknown as NonNullable<ServerOptions['adapter']>;
}

type StreamsAdapter = ReturnType<ReturnType<typeof createAdapter>>;

/**
 * The stream reader hands the adapter every entry of the stream, this node's own broadcasts
 * included, and the adapter decodes each (a JSON.parse of the packet and its rooms: ~30 KB for a
 * message to 1,000 members) before ClusterAdapter.onMessage drops its own by uid. This node
 * delivered those to its sockets when it sent them (their offsets come from the XADD's reply):
 * they are dropped here, undecoded.
 */
function ownEntriesUndecoded(adapter: StreamsAdapter): StreamsAdapter {
  const uid = (adapter as unknown as { uid: string }).uid;
  const decodeAndHandle = adapter.onRawMessage;
  adapter.onRawMessage = function (this: StreamsAdapter, raw, offset) {
    if ((raw as { uid?: unknown } | null)?.uid === uid) return;
    return decodeAndHandle.call(this, raw, offset);
  };
  return adapter;
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

/** socket.io-adapter's ClusterAdapter MessageType.BROADCAST (2.5.x). */
const BROADCAST = 3;

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
