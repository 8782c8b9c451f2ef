// The outbox worker delivering through FCM (the production issue, part 3): never the same row
// twice with two workers on one database, a dead worker's rows taken over after their lease, a
// device already served not served again, rows given up after PUSH_MAX_ATTEMPTS, and a claimed
// batch costing the same few statements whatever its size (bench/RESULTS.md P3/P6).
import type { PGlite } from '@electric-sql/pglite';
import type { Sql } from 'postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rows, sql, textArray, type Database, type Db } from '../src/db/client.js';
import * as schema from '../src/db/schema.js';
import { FcmPushSender } from '../src/push/fcm.js';
import type { PushSender } from '../src/push/sender.js';
import { createPushWorker, type PushWorker } from '../src/push/worker.js';
import type { PushMessage } from '../src/shared/effects.js';
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
 * Writes outbox rows directly, one per push in order, without waking the app's own worker: the
 * tests below decide which workers run. Not through effects.push: the batches also hold rows of
 * users without a device (their last device removed after the row was written), which
 * insertPushRows does not write.
 */
async function writePushes(pushes: { userId: string; message: PushMessage }[]): Promise<void> {
  await t.deps.database.db.transaction(async (tx) => {
    for (const { userId, message: m } of pushes) {
      await tx.execute(sql`insert into push_outbox (user_id, event, chat_id, title, body)
                           values (${userId}, ${m.event}, ${m.chat ?? null}, ${m.title}, ${m.body})`);
    }
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

  it('a claimed batch costs the same statements for 3 rows as for 30, every row ending right', async () => {
    // The app's own worker would race for the rows (its timer): paused for this test.
    await t.deps.pushWorker.stop();
    try {
      const counted = countedDatabase();
      const worker = createPushWorker(counted.database, fcmSender(), t.deps.log, {
        intervalMs: 60_000,
        maxAttempts: 3,
        batchSize: 500,
      });
      // Rows of earlier tests (or, on PGlite, of earlier files) still due go first.
      while ((await due()) > 0) await worker.runOnce();

      const small = await batchScenario(3);
      const smallRun = await countedRun(worker, counted);
      const large = await batchScenario(30);
      const largeRun = await countedRun(worker, counted);

      // The claim (which reads the devices too) and one write of every outcome (and of the dead
      // devices): no transaction, no statement per row or per device.
      expect(smallRun.statements).toHaveLength(2);
      expect(largeRun.statements).toHaveLength(2);
      expect(largeRun.statements[0]).toMatch(/for update skip locked/);
      expect(largeRun.statements[1]).toMatch(/^with forgotten as \(delete from devices/);
      expect(smallRun.statements[1]).toMatch(/^update push_outbox/);
      // Every row but the retried one is finished.
      expect(smallRun.finished).toBe(3);
      expect(largeRun.finished).toBe(29);
      await small.check();
      await large.check();
    } finally {
      t.deps.pushWorker.start();
    }
  });
});

describe('push outbox retention', () => {
  it('deletes rows sent or given up longer ago than the retention, on its own timer, and keeps the rest', async () => {
    const user = await t.user();
    const db = t.deps.database.db;
    // title → (sent, failed) that many hours ago; null: not finished
    const cases: [string, number | null, number | null][] = [
      ['sent 25 h ago', 25, null],
      ['sent 23 h ago', 23, null],
      ['given up 30 h ago', null, 30],
      ['given up 1 h ago', null, 1],
      ['due, written 48 h ago', null, null],
    ];
    for (const [title, sent, failed] of cases) {
      await db.execute(sql`insert into push_outbox (user_id, event, title, body, created_at, next_attempt_at, sent_at, failed_at)
        values (${user.id}, 'message-created', ${title}, 'b', now() - interval '48 hours', now() + interval '1 hour',
                now() - make_interval(hours => ${sent}::int), now() - make_interval(hours => ${failed}::int))`);
    }
    const titles = async () =>
      (await rows<{ title: string }>(db, sql`select title from push_outbox where user_id = ${user.id} order by id`)).map((r) => r.title);
    const worker = createPushWorker(t.deps.database, fcmSender(), t.deps.log, {
      intervalMs: 60_000,
      maxAttempts: 3,
      retentionHours: 24,
      purgeIntervalMs: 50,
    });
    worker.start();
    try {
      const end = Date.now() + 15_000;
      while ((await titles()).length > 3 && Date.now() < end) await settle(50);
    } finally {
      await worker.stop();
    }
    expect(await titles()).toEqual(['sent 23 h ago', 'given up 1 h ago', 'due, written 48 h ago']);
    expect(await worker.purgeOnce()).toBe(0);
  });
});

/**
 * The same driver connection as the app's, under a drizzle handle of its own whose logger records
 * every statement the worker sends (transactions would add their begin and commit).
 */
function countedDatabase(): { database: Database; statements: string[] } {
  const statements: string[] = [];
  const logger = { logQuery: (query: string) => statements.push(query.replace(/\s+/g, ' ').trim()) };
  const client = (t.deps.database.db as any).$client;
  const db = (
    t.kind === 'pglite'
      ? drizzlePglite(client as PGlite, { schema, logger })
      : drizzlePostgres(client as Sql, { schema, logger })
  ) as unknown as Db;
  const transaction = db.transaction.bind(db);
  db.transaction = ((work: any, config?: any) => {
    statements.push('begin');
    return transaction(work, config).finally(() => statements.push('commit'));
  }) as Db['transaction'];
  return { database: { ...t.deps.database, db }, statements };
}

async function countedRun(worker: PushWorker, counted: { statements: string[] }) {
  counted.statements.length = 0;
  const finished = await worker.runOnce();
  return { finished, statements: [...counted.statements] };
}

async function due(): Promise<number> {
  const [row] = await rows<{ n: number }>(
    t.deps.database.db,
    sql`select count(*)::int as n from push_outbox where sent_at is null and failed_at is null and next_attempt_at <= now()`,
  );
  return row.n;
}

interface OutboxState {
  title: string;
  attempts: number;
  sent: boolean;
  failed: boolean;
  delivered: string[];
  lastError: string | null;
  dueInSeconds: number;
}

async function outboxOf(userId: string): Promise<OutboxState[]> {
  return rows<OutboxState>(
    t.deps.database.db,
    sql`select title, attempts, sent_at is not null as sent, failed_at is not null as failed,
               delivered_tokens as delivered, last_error as "lastError",
               extract(epoch from (next_attempt_at - now()))::float8 as "dueInSeconds"
        from push_outbox where user_id = ${userId} order by id`,
  );
}

async function devicesOf(userId: string): Promise<string[]> {
  const found = await rows<{ token: string }>(
    t.deps.database.db,
    sql`select token from devices where user_id = ${userId} order by created_at, token`,
  );
  return found.map((r) => r.token);
}

/**
 * `size` outbox rows (3, or 30) for users in each situation a batch meets: no device (most rows),
 * one device, two devices of which one FCM calls unregistered, a 503 with Retry-After (retried),
 * a payload FCM rejects for good (the device is given up, the row sent), and a row on its last
 * attempt answered 500 (given up). `check` asserts each row's state after one run.
 */
async function batchScenario(size: 3 | 30) {
  const tag = unique('batch');
  const pushes: { userId: string; message: PushMessage }[] = [];
  const add = (user: TestUser, n: number) => {
    for (let i = 1; i <= n; i++) pushes.push({ userId: user.id, message: message(`${tag}:${user.id}#${i}`) });
  };
  const offline = await t.user();
  const single = await t.user();
  const singleToken = await registerDevice(single);
  const checks: (() => Promise<void>)[] = [];
  let onLastAttempt: string | null = null;

  if (size === 3) {
    add(offline, 2);
    add(single, 1);
  } else {
    const pair = await t.user();
    const kept = await registerDevice(pair);
    const gone = await registerDevice(pair);
    fake.unregister(gone);
    const busy = await t.user();
    const busyToken = await registerDevice(busy);
    fake.failNext(busyToken, { status: 503, retryAfter: 120 });
    const rejecting = await t.user();
    const rejectedToken = await registerDevice(rejecting);
    fake.failNext(rejectedToken, { status: 400, code: 'INVALID_ARGUMENT', about: 'payload' });
    const lastTry = await t.user();
    const lastTryToken = await registerDevice(lastTry);
    onLastAttempt = lastTry.id;
    fake.failNext(lastTryToken, { status: 500 });
    const offline2 = await t.user();
    add(offline, 10);
    add(offline2, 8);
    add(single, 5);
    add(pair, 4);
    add(busy, 1);
    add(rejecting, 1);
    add(lastTry, 1);
    checks.push(async () => {
      expect(await outboxOf(offline2.id)).toEqual(
        Array.from({ length: 8 }, () => expect.objectContaining({ sent: true, failed: false, delivered: [] })),
      );
      // Each row to the live device once; the dead one tried once (by the first row), then forgotten.
      expect(await outboxOf(pair.id)).toEqual(
        Array.from({ length: 4 }, () => expect.objectContaining({ sent: true, failed: false, delivered: [kept] })),
      );
      expect(fake.delivered(kept)).toHaveLength(4);
      expect(fake.sends.filter((s) => s.token === gone).map((s) => s.status)).toEqual([404]);
      expect(await devicesOf(pair.id)).toEqual([kept]);
      // 503 with Retry-After 120 s: kept, due again in about two minutes, nothing recorded.
      const [retried] = await outboxOf(busy.id);
      expect(retried).toMatchObject({ attempts: 1, sent: false, failed: false, delivered: [] });
      expect(retried.lastError).toMatch(/^FCM 503 UNAVAILABLE/);
      expect(retried.dueInSeconds).toBeGreaterThan(100);
      expect(retried.dueInSeconds).toBeLessThanOrEqual(120);
      expect(await devicesOf(busy.id)).toEqual([busyToken]);
      // A payload refused for good: the device is not tried again, the row is done.
      expect(await outboxOf(rejecting.id)).toEqual([
        expect.objectContaining({ sent: true, failed: false, delivered: [rejectedToken], lastError: null }),
      ]);
      // The third of PUSH_MAX_ATTEMPTS 3 attempts fails: given up.
      const [givenUp] = await outboxOf(lastTry.id);
      expect(givenUp).toMatchObject({ attempts: 3, sent: false, failed: true, delivered: [] });
      expect(givenUp.lastError).toMatch(/^FCM 500 INTERNAL/);
    });
  }
  await writePushes(pushes);
  if (onLastAttempt) {
    // This user's row has used two of its three attempts already.
    await t.deps.database.db.execute(sql`update push_outbox set attempts = 2 where user_id = ${onLastAttempt}`);
  }
  expect(pushes).toHaveLength(size);

  return {
    async check() {
      const offlineRows = await outboxOf(offline.id);
      expect(offlineRows).toHaveLength(size === 3 ? 2 : 10);
      for (const row of offlineRows) expect(row).toMatchObject({ attempts: 1, sent: true, failed: false, delivered: [] });
      const singleRows = await outboxOf(single.id);
      expect(singleRows).toHaveLength(size === 3 ? 1 : 5);
      for (const row of singleRows) expect(row).toMatchObject({ attempts: 1, sent: true, delivered: [singleToken] });
      // One send per row, in the rows' order.
      expect(fake.delivered(singleToken).map((s) => s.body.message.notification.title)).toEqual(
        singleRows.map((r) => r.title),
      );
      for (const check of checks) await check();
    },
  };
}

