// RATE_LIMIT_PER_MINUTE: per user (valid token) else per IP; counters local, or in Redis shared by
// every node; 429 RATE_LIMITED in the error body of rulings.md 4. Also: Redis going down.
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startRedis, type RunningServer } from './helpers/servers.js';
import { startApp, unique, type TestApp, type TestUser } from './helpers/app.js';

const LIMIT = 3;
const redisUrl = inject('redisUrl');
const someIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/** Registers from an address of its own: registrations count per IP against the limit too. */
async function userOf(t: TestApp): Promise<TestUser> {
  const username = unique('rl_');
  const res = await t.app.inject({
    method: 'POST',
    url: '/auth/register',
    remoteAddress: someIp(),
    payload: { name: 'Rate Limited', username, password: 'password123' },
  });
  expect(res.statusCode).toBe(201);
  const { user, token } = res.json();
  return { id: user._id, name: user.name, username, token, auth: { authorization: `Bearer ${token}` } };
}

function expectRateLimited(res: { statusCode: number; headers: Record<string, unknown>; json(): any }) {
  expect(res.statusCode).toBe(429);
  expect(res.json()).toEqual({
    statusCode: 429,
    error: 'Too Many Requests',
    code: 'RATE_LIMITED',
    message: expect.stringContaining('Rate limit exceeded'),
    requestId: expect.any(String),
  });
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
}

describe('rate limit with local counters', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ RATE_LIMIT_PER_MINUTE: String(LIMIT) });
  });
  afterAll(() => t?.close());

  it('lets a user make the allowed requests per minute, then answers 429 RATE_LIMITED', async () => {
    const u = await userOf(t);
    for (let i = 0; i < LIMIT; i++) {
      const res = await t.app.inject({ url: '/users/me', headers: u.auth });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe(String(LIMIT));
      expect(res.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 1 - i));
    }
    expectRateLimited(await t.app.inject({ url: '/users/me', headers: u.auth }));
    // Any route counts against the same user.
    expectRateLimited(await t.app.inject({ url: `/users/${u.id}`, headers: u.auth }));
  });

  it('counts per user, not per IP: another user from the same address is not limited', async () => {
    const ip = someIp();
    const [u, v] = [await userOf(t), await userOf(t)];
    for (let i = 0; i < LIMIT; i++) await t.app.inject({ url: '/users/me', headers: u.auth, remoteAddress: ip });
    expectRateLimited(await t.app.inject({ url: '/users/me', headers: u.auth, remoteAddress: ip }));
    const other = await t.app.inject({ url: '/users/me', headers: v.auth, remoteAddress: ip });
    expect(other.statusCode).toBe(200);
  });

  it('counts requests without a token per IP (login attempts)', async () => {
    const ip = someIp();
    const login = (remoteAddress: string) =>
      t.app.inject({
        method: 'POST',
        url: '/auth/login',
        remoteAddress,
        payload: { username: 'nobody_here', password: 'wrong-password' },
      });
    for (let i = 0; i < LIMIT; i++) expect((await login(ip)).statusCode).toBe(401);
    expectRateLimited(await login(ip));
    expect((await login(someIp())).statusCode).toBe(401);
  });

  it('never limits /health, nor local /uploads files (a chat full of images)', async () => {
    const ip = someIp();
    const key = `tests/${unique('rl')}/a.png`;
    await t.deps.storage.put(key, Buffer.from('png'), 'image/png');
    for (let i = 0; i < LIMIT + 2; i++) {
      for (const url of ['/health', `/uploads/${key}`]) {
        const res = await t.app.inject({ url, remoteAddress: ip });
        expect(res.statusCode, url).toBe(200);
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
      }
    }
  });
});

describe('rate limit off (RATE_LIMIT_PER_MINUTE=0, the default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t?.close());

  it('/health says redis "off" without REDIS_URL', async () => {
    const res = await t.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', db: 'ok', redis: 'off' });
  });

  it('adds no limit', async () => {
    const u = await userOf(t);
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await t.app.inject({ url: '/users/me', headers: u.auth });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('rate limit with counters in Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startApp({ RATE_LIMIT_PER_MINUTE: String(LIMIT), REDIS_URL: redisUrl });
    b = await startApp({ RATE_LIMIT_PER_MINUTE: String(LIMIT), REDIS_URL: redisUrl });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('holds the limit across nodes: requests to both count against one counter', async () => {
    const u = await userOf(a);
    expect((await a.app.inject({ url: '/users/me', headers: u.auth })).statusCode).toBe(200);
    expect((await b.app.inject({ url: '/users/me', headers: u.auth })).statusCode).toBe(200);
    const third = await a.app.inject({ url: '/users/me', headers: u.auth });
    expect(third.statusCode).toBe(200);
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
    expectRateLimited(await b.app.inject({ url: '/users/me', headers: u.auth }));
    expectRateLimited(await a.app.inject({ url: '/users/me', headers: u.auth }));
  });
});

describe('when Redis goes down', () => {
  let redis: RunningServer;
  let t: TestApp;
  beforeAll(async () => {
    redis = await startRedis();
    t = await startApp({ RATE_LIMIT_PER_MINUTE: '100', REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await t?.close();
    redis?.stop();
  });

  it('/health answers 503 with redis "down", requests are still served, and the app still closes', async () => {
    const u = await userOf(t);
    const healthy = await t.app.inject({ url: '/health' });
    expect(healthy.statusCode).toBe(200);
    expect(healthy.json()).toEqual({ status: 'ok', db: 'ok', redis: 'ok' });

    redis.stop();
    await new Promise((r) => setTimeout(r, 300));
    const health = await t.app.inject({ url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'degraded', db: 'ok', redis: 'down' });

    // The limiter cannot count: it lets the request through rather than failing it, at once
    // (not after ioredis's reconnect attempts), also well into the outage.
    for (const wait of [0, 1500]) {
      await new Promise((r) => setTimeout(r, wait));
      const started = Date.now();
      const me = await t.app.inject({ url: '/users/me', headers: u.auth });
      expect(me.statusCode).toBe(200);
      expect(Date.now() - started).toBeLessThan(250);
    }

    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

it('a node whose REDIS_URL cannot be reached does not start', async () => {
  await expect(startApp({ REDIS_URL: 'redis://127.0.0.1:1' })).rejects.toThrow(/REDIS_URL: cannot connect/);
});
