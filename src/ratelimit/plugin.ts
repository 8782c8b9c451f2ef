// Request rate limit (RATE_LIMIT_PER_MINUTE, 0 = off): per user when the request carries a valid
// token, else per client IP. With REDIS_URL the counters live in Redis, so the limit holds for the
// whole service, not per node. Over the limit: 429 RATE_LIMITED (rulings.md 4) with Retry-After.
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import type { Redis } from '../realtime/redis.js';
import { aroundCalls, KEY_PREFIX } from '../realtime/redis.js';
import { AppError } from '../shared/errors.js';

export interface RateLimitOptions {
  perMinute: number;
  redis: Redis | null;
}

export async function registerRateLimit(app: App, options: RateLimitOptions): Promise<void> {
  if (options.perMinute <= 0) return;
  await app.register(rateLimit, {
    global: true,
    max: options.perMinute,
    timeWindow: 60_000,
    // preValidation runs after the bearer token was checked (onRequest), so the key is the user.
    // A request without a valid token never gets here (401 first) unless its route is public
    // (register, login): those are counted per IP, which also slows password guessing.
    hook: 'preValidation',
    keyGenerator: (request: FastifyRequest) => (request.userId ? `user:${request.userId}` : `ip:${request.ip}`),
    ...(options.redis ? { redis: failingFastWhenDown(options.redis), nameSpace: `${KEY_PREFIX}ratelimit:` } : {}),
    // Redis unreachable: serve the request rather than fail it; /health reports redis "down".
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded: at most ${context.max} requests per minute, retry in ${context.after}`),
  });
}

/** The counting scripts @fastify/rate-limit's RedisStore defines on the client and calls. */
const COUNTING_COMMANDS = new Set<string | symbol>(['rateLimit', 'rateLimitRead']);

/**
 * The client as the limiter sees it: while Redis is not connected, counting fails at once (and
 * skipOnError lets the request through) instead of waiting in ioredis's offline queue through the
 * reconnect attempts, which held every request of an outage for up to seconds.
 */
function failingFastWhenDown(redis: Redis): Redis {
  return aroundCalls(redis, (property, call, args) => {
    if (!COUNTING_COMMANDS.has(property) || redis.status === 'ready') return call();
    const callback = args.at(-1);
    if (typeof callback === 'function') process.nextTick(callback, new Error(`redis connection ${redis.status}`));
    return undefined;
  });
}
