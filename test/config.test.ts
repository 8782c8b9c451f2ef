// loadConfig: every bad variable stops start-up with a message naming it (STYLE.md 5), and the
// defaults run the embedded service with nothing set.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const fails = (env: Record<string, string>, variable: string) => {
  let error: unknown = null;
  try {
    loadConfig(env);
  } catch (e) {
    error = e;
  }
  expect(error, JSON.stringify(env)).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toContain(variable);
  return (error as Error).message;
};

describe('loadConfig rejects', () => {
  it.each(['abc', '-1', '65536', '3000.5', '80x'])('PORT=%s', (value) => {
    fails({ PORT: value }, 'PORT');
  });

  it.each(['localhost:5432', 'mysql://u@h/db', 'http://h/db', 'not a url'])('DATABASE_URL=%s', (value) => {
    fails({ DATABASE_URL: value }, 'DATABASE_URL');
  });

  it.each(['localhost:6379', 'http://h:6379', 'nope'])('REDIS_URL=%s', (value) => {
    fails({ REDIS_URL: value }, 'REDIS_URL');
  });

  it('a JWT_SECRET under 32 characters', () => {
    expect(fails({ JWT_SECRET: 'x'.repeat(31) }, 'JWT_SECRET')).toMatch(/32/);
    expect(loadConfig({ JWT_SECRET: 'x'.repeat(32) }).jwt.secret).toBe('x'.repeat(32));
  });

  it('production without JWT_SECRET or JWT_JWKS_URL', () => {
    fails({ NODE_ENV: 'production' }, 'JWT_SECRET');
    expect(loadConfig({ NODE_ENV: 'production', JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' }).jwt.jwksUrl)
      .toBe('https://idp.example.com/.well-known/jwks.json');
  });

  it('S3_BUCKET without S3_PUBLIC_URL, and a bucket name too short', () => {
    fails({ S3_BUCKET: 'chat-media' }, 'S3_PUBLIC_URL');
    fails({ S3_BUCKET: 'ab', S3_PUBLIC_URL: 'https://pub.r2.dev' }, 'S3_BUCKET');
    fails({ S3_BUCKET: 'chat-media', S3_PUBLIC_URL: 'ftp://pub' }, 'S3_PUBLIC_URL');
  });

  it.each(['{not json', '[]', '{"name":"Study"}', '[{"name":""}]', '[{"name":"Study","tags":[{"tag":1}]}]'])(
    'CHAT_CATEGORIES=%s',
    (value) => {
      fails({ CHAT_CATEGORIES: value }, 'CHAT_CATEGORIES');
    },
  );

  it('other bad values, each naming its variable', () => {
    fails({ NODE_ENV: 'staging' }, 'NODE_ENV');
    fails({ SCORE_ACTIONS: '{"join-group-chat":{"points":"5"}}' }, 'SCORE_ACTIONS');
    fails({ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE');
    fails({ S3_BUCKET: 'chat-media', S3_PUBLIC_URL: 'https://pub.r2.dev', S3_FORCE_PATH_STYLE: 'maybe' }, 'S3_FORCE_PATH_STYLE');
    fails({ TRENDING_REEL_WEIGHT: '-3' }, 'TRENDING_REEL_WEIGHT');
    fails({ FCM_CREDENTIALS: '/nonexistent/credentials.json' }, 'FCM_CREDENTIALS');
    fails({ FCM_CREDENTIALS: '{"client_email":"a@b"}' }, 'FCM_CREDENTIALS');
    fails({ PUBLIC_URL: 'example.com' }, 'PUBLIC_URL');
    fails({ CHAT_LIST_CACHE_USERS: '-1' }, 'CHAT_LIST_CACHE_USERS');
    fails({ CHAT_LIST_CACHE_TTL_MS: '0' }, 'CHAT_LIST_CACHE_TTL_MS');
    fails({ CHAT_LIST_CACHE_TTL_MS: '1m' }, 'CHAT_LIST_CACHE_TTL_MS');
    fails({ PUSH_RETENTION_HOURS: '0' }, 'PUSH_RETENTION_HOURS');
  });
});

describe('loadConfig defaults', () => {
  it('run the embedded service with nothing set', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.dataDir).toBe(path.resolve('data'));
    expect(config.database).toEqual({ url: null, poolSize: 10, prepare: true, pgliteDir: path.resolve('data', 'db') });
    expect(config.redis).toEqual({ url: null });
    expect(config.jwt).toMatchObject({ secret: null, jwksUrl: null, expiresIn: '30d' });
    expect(config.storage).toEqual({ kind: 'local', dir: path.resolve('data', 'uploads'), publicUrl: 'http://localhost:3000/uploads' });
    expect(config.push.fcm).toBeNull();
    expect(config.push.maxAttempts).toBeGreaterThanOrEqual(1);
    expect(config.push.retentionHours).toBe(24);
    expect(loadConfig({ PUSH_RETENTION_HOURS: '168' }).push.retentionHours).toBe(168);
    expect(config.corsOrigins).toBe(true);
    expect(config.limits).toMatchObject({ uploadMaxBytes: 100 * 1024 * 1024, photoMaxBytes: 10 * 1024 * 1024 });
    expect(config.catalog.categories.map((c) => c.name)).toEqual(
      ['Study', 'Courses', 'Event', 'Sports', 'Music', 'Gaming', 'Party', 'Social', 'Other'],
    );
    expect(config.catalog.categories[0].tags).toEqual([
      { tag: 'exams', label: 'Exams' },
      { tag: 'lectures', label: 'Lectures & Summaries' },
    ]);
    expect(config.catalog.categories.slice(1).every((c) => c.tags.length === 0)).toBe(true);
    expect(config.score.actions['join-group-chat']).toEqual({ points: 5, once: 'chat' });
    expect(config.trending).toEqual({ windowDays: 7, messageWeight: 1, reelWeight: 3, joinWeight: 1 });
    expect(config.chatListCache).toEqual({ users: 10_000, ttlMs: 60_000 });
    expect(loadConfig({ CHAT_LIST_CACHE_USERS: '0' }).chatListCache.users).toBe(0);
    expect(config.logLevel).toBe('info');
  });

  it('treat empty and blank values as unset (an .env copied from .env.example works)', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '  ', REDIS_URL: '', S3_BUCKET: '', JWT_SECRET: '', CHAT_CATEGORIES: '' });
    expect(config.port).toBe(3000);
    expect(config.database.url).toBeNull();
    expect(config.storage.kind).toBe('local');
  });

  it('keep PostgreSQL and Redis on Unix sockets as given (DATABASE_URL ?host=<directory>, REDIS_URL ?path=<socket>)', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://chat@localhost/chat?host=/var/run/postgresql',
      REDIS_URL: 'redis://localhost/2?path=/run/redis/redis-server.sock',
    });
    expect(config.database.url).toBe('postgres://chat@localhost/chat?host=/var/run/postgresql');
    expect(config.redis.url).toBe('redis://localhost/2?path=/run/redis/redis-server.sock');
  });

  it('take the production values when they are set', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      PUBLIC_URL: 'https://chat.example.com/',
      DATABASE_URL: 'postgres://chat:pw@db:5432/chat',
      REDIS_URL: 'rediss://cache:6380',
      JWT_SECRET: 'p'.repeat(40),
      S3_BUCKET: 'chat-media',
      S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com',
      S3_PUBLIC_URL: 'https://pub-1.r2.dev',
      CHAT_CATEGORIES: '[{"name":"Study","tags":[{"tag":"exams","label":"Exams"}]},{"name":"Other","tags":[]}]',
    });
    expect(config.port).toBe(8080);
    expect(config.publicUrl).toBe('https://chat.example.com');
    expect(config.database.url).toBe('postgres://chat:pw@db:5432/chat');
    expect(config.database.pgliteDir).toBeNull();
    expect(config.redis.url).toBe('rediss://cache:6380');
    expect(config.storage).toMatchObject({ kind: 's3', bucket: 'chat-media', region: 'auto', publicUrl: 'https://pub-1.r2.dev', forcePathStyle: true });
    expect(config.catalog.categories.map((c) => c.name)).toEqual(['Study', 'Other']);
    expect(config.logLevel).toBe('info');
  });
});
