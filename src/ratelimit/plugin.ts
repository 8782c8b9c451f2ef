// Request rate limit (RATE_LIMIT_PER_MINUTE, 0 = off): per user when the request carries a valid
// token, else per client IP. With REDIS_URL the counters live in Redis, so the limit holds for the
// whole service, not per node. Over the limit: 429 RATE_LIMITED (rulings.md 4) with Retry-After.
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import type { Redis } from '../realtime/redis.js';
import { KEY_PREFIX } from '../realtime/redis.js';
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
    ...(options.redis ? { redis: options.redis, nameSpace: `${KEY_PREFIX}ratelimit:` } : {}),
    // Redis unreachable: serve the request rather than fail it; /health reports redis "down".
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded: at most ${context.max} requests per minute, retry in ${context.after}`),
  });
}
