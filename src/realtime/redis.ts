// Redis for scale-out (REDIS_URL): one command connection per node, shared by presence, rate-limit
// counters and the Socket.IO streams adapter (which opens its own reader and subscriber copies).
import type { FastifyBaseLogger } from 'fastify';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { ServerOptions } from 'socket.io';

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
  let lastError = '';
  redis.on('error', (error: Error) => {
    // ioredis repeats the same error on every reconnect attempt: log each cause once.
    if (error.message !== lastError) log.warn({ err: error }, 'redis connection error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (lastError) log.info('redis connection restored');
    lastError = '';
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`REDIS_URL: cannot connect to ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return redis;
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
export function createSocketAdapter(redis: Redis): NonNullable<ServerOptions['adapter']> {
  return createAdapter(redis, {
    streamName: `${KEY_PREFIX}socket.io`,
    channelPrefix: `${KEY_PREFIX}socket.io`,
    sessionKeyPrefix: `${KEY_PREFIX}sio:session:`,
    // The stream keeps about the last 10,000 broadcasts: the recovery window is bounded by it too
    // (a client away longer than the stream reaches back reconnects without recovery).
    maxLen: 10_000,
    // Payloads are JSON (ids, ISO dates): skip the binary scan of every packet.
    onlyPlaintext: true,
  }) as NonNullable<ServerOptions['adapter']>;
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
