// The real app for tests: PGlite (one migrated instance per worker, kept across test files) or the
// suite's PostgreSQL, listening on a free port so real Socket.IO clients can connect.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { io as connect, type Socket } from 'socket.io-client';
import { inject } from 'vitest';
import { buildApp, type BuildOptions, type Service } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, pgliteExtensions } from '../../src/db/client.js';
import postgres from 'postgres';
import { s3Env } from './s3.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const dbKind = (process.env.TEST_DB ?? 'pglite') as 'pglite' | 'postgres';

let sharedPglite: Promise<PGlite> | null = null;

function pglite(): Promise<PGlite> {
  sharedPglite ??= (async () => {
    const pg = new PGlite({ extensions: pgliteExtensions });
    await pg.waitReady;
    await pg.exec(`SET TIME ZONE 'UTC'`);
    const database = await openDatabase({ url: null, poolSize: 1, pgliteDir: null, pglite: pg });
    await database.migrate();
    return pg;
  })();
  return sharedPglite;
}

export interface TestUser {
  id: string;
  name: string;
  username: string;
  token: string;
  auth: { authorization: string };
}

// `socket` here opens a client socket; the server side is deps.realtime.
export interface TestApp extends Omit<Service, 'socket'> {
  url: string;
  kind: 'pglite' | 'postgres';
  /** A new user with a fresh name; the tests isolate themselves by fresh users. */
  user(overrides?: { name?: string; username?: string }): Promise<TestUser>;
  socket(user: TestUser, options?: { connect?: boolean }): Promise<Socket>;
  close(): Promise<void>;
}

let counter = 0;
export function unique(prefix = 'u'): string {
  counter++;
  return `${prefix}${counter.toString(36)}${randomBytes(4).toString('hex')}`;
}

/**
 * `env` overrides the app's environment. `STORAGE: 's3'` stores uploads in the suite's s3rver
 * (the S3_* variables of test/helpers/s3.ts) instead of a local folder.
 */
export async function startApp(
  env: Record<string, string> = {},
  options: Omit<BuildOptions, 'config'> = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-test-'));
  const databaseUrl = dbKind === 'postgres' ? inject('databaseUrl') : '';
  const { STORAGE: storageKind, ...appEnv } = env;
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '5',
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_URL: 'http://127.0.0.1:0',
    PUSH_WORKER_INTERVAL_MS: '60000',
    ...(storageKind === 's3' ? s3Env(inject('s3')) : {}),
    ...appEnv,
  });
  const service = await buildApp({
    config,
    migrate: false,
    ...(dbKind === 'pglite' ? { pglite: await pglite() } : {}),
    ...options,
  });
  await service.app.listen({ port: 0, host: '127.0.0.1' });
  const address = service.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const sockets: Socket[] = [];

  return {
    ...service,
    url,
    kind: dbKind,
    async user(overrides = {}) {
      const username = overrides.username ?? unique('user_');
      const name = overrides.name ?? `Name ${username}`;
      const res = await service.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { name, username, password: 'password123' },
      });
      if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
      const body = res.json();
      return { id: body.user._id, name, username, token: body.token, auth: { authorization: `Bearer ${body.token}` } };
    },
    async socket(user, socketOptions = {}) {
      const socket = connect(url, { auth: { token: user.token }, transports: ['websocket'], reconnection: false, forceNew: true });
      sockets.push(socket);
      if (socketOptions.connect !== false) {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
      }
      return socket;
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await service.app.close();
    },
  };
}

/** Resolves with the next `event` on the socket, or rejects after `ms`. */
export function nextEvent<T = any>(socket: Socket, event: string, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, on);
  });
}

/** Collects every `event` on the socket, to assert later that one did NOT arrive. */
export function record<T = any>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

/** Registers a device for the user (POST /devices); returns its token. */
export async function addDevice(t: TestApp, user: TestUser, platform = 'android'): Promise<string> {
  const token = unique('device-');
  const res = await t.app.inject({ method: 'POST', url: '/devices', headers: user.auth, payload: { token, platform } });
  if (res.statusCode !== 200) throw new Error(`POST /devices answered ${res.statusCode}: ${res.body}`);
  return token;
}

/**
 * Registers a device for each user. Only users with a device get push rows (src/push/queries.ts
 * insertPushRows).
 */
export async function withDevices(t: TestApp, ...users: TestUser[]): Promise<void> {
  for (const user of users) await addDevice(t, user);
}

export const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

export const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const OBJECT_ID = /^[0-9a-f]{24}$/;

/**
 * A database no other test file touches, for tests of workers that take every due row of a table
 * (push_outbox, pending_object_deletes): on PostgreSQL a new migrated database (pass `env` to
 * startApp); on PGlite the worker's own instance, which only one test file uses at a time.
 */
export async function isolatedDatabase(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (dbKind !== 'postgres') return { env: {}, drop: async () => {} };
  const base = inject('databaseUrl');
  const name = unique('test_').toLowerCase();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const database = await openDatabase({ url: url.toString(), poolSize: 1, pgliteDir: null });
  await database.migrate();
  await database.close();
  return {
    env: { DATABASE_URL: url.toString() },
    async drop() {
      const admin = postgres(base, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
