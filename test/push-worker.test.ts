// The outbox worker delivering through FCM (the production issue, part 3): never the same row
// twice with two workers on one database, a dead worker's rows taken over after their lease, a
// device already served not served again, and rows given up after PUSH_MAX_ATTEMPTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rows, sql, textArray, type Database } from '../src/db/client.js';
import { FcmPushSender } from '../src/push/fcm.js';
import type { PushSender } from '../src/push/sender.js';
import { createPushWorker, type PushWorker } from '../src/push/worker.js';
import { transaction, type PushMessage } from '../src/shared/effects.js';
import { newId } from '../src/shared/ids.js';
import { newServiceAccount, startFakeFcm, type FakeFcm } from './helpers/fake-fcm.js';
import { dbKind, isolatedDatabase, settle, startApp, unique, type TestApp, type TestUser } from './helpers/app.js';

let fake: FakeFcm;
let database: Awaited<ReturnType<typeof isolatedDatabase>>;
let t: TestApp;

beforeAll(async () => {
  fake = await startFakeFcm(newServiceAccount());
  database = await isolatedDatabase();
  t = await startApp({ ...fake.env(), ...database.env, PUSH_MAX_ATTEMPTS: '2' });
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
  await database?.drop();
});

async function registerDevice(user: TestUser): Promise<string> {
  const token = `${unique('fcm_')}:APA91b${'y'.repeat(140)}`;
  const res = await t.app.inject({ method: 'POST', url: '/devices', headers: user.auth, payload: { token, platform: 'android' } });
  expect(res.statusCode).toBe(200);
  return token;
}

/**
 * Writes outbox rows as services do (effects.push in a transaction), without waking the app's own
 * worker: the tests below decide which workers run.
 */
async function writePushes(pushes: { userId: string; message: PushMessage }[]): Promise<void> {
  const quiet: PushWorker = { ...t.deps.pushWorker, wake() {} };
  await transaction({ ...t.deps, pushWorker: quiet }, async (_tx, effects) => {
    for (const p of pushes) effects.push([p.userId], p.message);
  });
}

const message = (title: string): PushMessage => ({ event: 'message-created', chat: newId(), title, body: 'hello' });

function fcmSender(): FcmPushSender {
  const { account } = fake;
  return new FcmPushSender({
    projectId: account.projectId,
    clientEmail: account.clientEmail,
    privateKey: account.privateKeyPem,
    tokenUri: fake.tokenUrl,
    baseUrl: fake.url,
  });
}

async function unfinished(userIds: string[]): Promise<number> {
  const [row] = await rows<{ n: number }>(
    t.deps.database.db,
    sql`select count(*)::int as n from push_outbox
        where user_id = any(${textArray(userIds)}) and sent_at is null and failed_at is null`,
  );
  return row.n;
}

describe('push worker over FCM', () => {
  it('two workers on one database, racing, send every row exactly once', async () => {
    // A second connection (pool) to the same database, as a second node has. PGlite is one
    // in-process connection: both workers share it, and still race between their statements.
    const second: Database =
      dbKind === 'postgres'
        ? await openDatabase({ url: database.env.DATABASE_URL, poolSize: 3, pgliteDir: null })
        : t.deps.database;
    try {
      const users = await Promise.all([1, 2, 3, 4, 5].map(() => t.user()));
      const tokens = new Map<string, string>();
      for (const user of users) tokens.set(user.id, await registerDevice(user));
      const pushes = users.flatMap((user) =>
        [1, 2, 3, 4, 5, 6].map((n) => ({ userId: user.id, message: message(`${user.id}#${n}`) })),
      );
      await writePushes(pushes);

      fake.sendDelayMs = 15;
      const options = { intervalMs: 60_000, maxAttempts: 8, batchSize: 3 };
      const workers = [
        createPushWorker(t.deps.database, fcmSender(), t.deps.log, options),
        createPushWorker(second, fcmSender(), t.deps.log, options),
      ];
      const userIds = users.map((u) => u.id);
      const until = Date.now() + 30_000;
      await Promise.all(
        workers.map(async (worker) => {
          while ((await unfinished(userIds)) > 0 && Date.now() < until) {
            if ((await worker.runOnce()) === 0) await settle(10);
          }
        }),
      );
      fake.sendDelayMs = 0;

      expect(await unfinished(userIds)).toBe(0);
      const mine = fake.sends.filter((s) => [...tokens.values()].includes(s.token!));
      const titles = mine.map((s) => s.body.message.notification.title as string);
      expect(titles).toHaveLength(pushes.length);
      expect(new Set(titles).size).toBe(pushes.length);
      for (const s of mine) {
        expect(s.status).toBe(200);
        expect(s.token).toBe(tokens.get(s.body.message.notification.title.split('#')[0]));
      }
      // Both workers took part (each sender has its own access token).
      expect(new Set(mine.map((s) => s.authorization)).size).toBe(2);
    } finally {
      if (second !== t.deps.database) await second.close();
    }
  });

  it('a worker that dies holding rows: another takes them over once the lease ends', async () => {
    const user = await t.user();
    const token = await registerDevice(user);
    await writePushes([{ userId: user.id, message: message('orphaned') }]);
    let claimed = false;
    // A node that claims the row and never finishes (killed mid-send).
    const dead: PushSender = {
      name: 'dead',
      send: () => {
        claimed = true;
        return new Promise(() => {});
      },
    };
    const options = { intervalMs: 60_000, maxAttempts: 8, leaseSeconds: 1 };
    void createPushWorker(t.deps.database, dead, t.deps.log, options).runOnce();
    const alive = createPushWorker(t.deps.database, fcmSender(), t.deps.log, options);
    while (!claimed) await settle(10);

    await alive.runOnce();
    expect(fake.delivered(token)).toEqual([]); // leased by the dead worker
    await settle(1100);
    await alive.runOnce();
    expect(fake.delivered(token)).toHaveLength(1);
    expect(await unfinished([user.id])).toBe(0);
  });

  it('a retry sends only to the devices that did not get the notification yet', async () => {
    const user = await t.user();
    const first = await registerDevice(user);
    const second = await registerDevice(user);
    fake.failNext(second, { status: 503 });
    await writePushes([{ userId: user.id, message: message('partial') }]);
    await t.deps.pushWorker.runOnce();
    const [row] = await rows<{ delivered: string[]; sent: boolean }>(
      t.deps.database.db,
      sql`select delivered_tokens as delivered, sent_at is not null as sent from push_outbox where user_id = ${user.id}`,
    );
    expect(row).toEqual({ delivered: [first], sent: false });

    await settle(1100);
    await t.deps.pushWorker.runOnce();
    expect(await unfinished([user.id])).toBe(0);
    expect(fake.delivered(first)).toHaveLength(1);
    expect(fake.sends.filter((s) => s.token === second).map((s) => s.status)).toEqual([503, 200]);
  });

  it('gives a row up after PUSH_MAX_ATTEMPTS failed attempts', async () => {
    const user = await t.user();
    const token = await registerDevice(user);
    fake.failNext(token, { status: 500 }, { status: 500 }, { status: 500 });
    await writePushes([{ userId: user.id, message: message('doomed') }]);
    await t.deps.pushWorker.runOnce();
    await settle(1100);
    await t.deps.pushWorker.runOnce();
    const [row] = await rows<{ attempts: number; failed: boolean; sent: boolean; lastError: string }>(
      t.deps.database.db,
      sql`select attempts, failed_at is not null as failed, sent_at is not null as sent, last_error as "lastError"
          from push_outbox where user_id = ${user.id}`,
    );
    expect(row).toMatchObject({ attempts: 2, failed: true, sent: false, lastError: expect.stringMatching(/500 INTERNAL/) });
    await settle(1100);
    await t.deps.pushWorker.runOnce();
    expect(fake.sends.filter((s) => s.token === token).map((s) => s.status)).toEqual([500, 500]);
  });
});
