// transaction(): effects after commit, outbox rows in the same transaction, and the two workers
// that drain them (src/push/worker.ts, src/storage/deleter.ts), on a database no other file uses.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rows, sql, type Database } from '../src/db/client.js';
import { createPushWorker } from '../src/push/worker.js';
import type { OutboxMessage, PushDevice, PushSender, SendResult } from '../src/push/sender.js';
import { transaction } from '../src/shared/effects.js';
import { pgErrorCode } from '../src/shared/errors.js';
import { LocalStorage } from '../src/storage/local.js';
import type { Storage, StoredObject } from '../src/storage/port.js';
import { addDevice, dbKind, isolatedDatabase, nextEvent, record, settle, startApp, unique, type TestApp, type TestUser } from './helpers/app.js';

/** Records every send; answers what `answer` says for a token (default: sent). */
class RecordingPushSender implements PushSender {
  readonly name = 'recording';
  readonly sent: { token: string; platform: string; message: OutboxMessage }[] = [];
  answer: (device: PushDevice, message: OutboxMessage) => SendResult = () => ({ status: 'sent' });
  delayMs = 0;

  async send(device: PushDevice, message: OutboxMessage): Promise<SendResult> {
    if (this.delayMs) await settle(this.delayMs);
    const result = this.answer(device, message);
    if (result.status === 'sent') this.sent.push({ token: device.token, platform: device.platform, message });
    return result;
  }

  to(userId: string) {
    return this.sent.filter((s) => s.message.userId === userId);
  }
}

/** Local storage whose delete fails while `failing` is set (an S3 outage, say). */
class FlakyStorage implements Storage {
  readonly kind = 'local' as const;
  failing = false;
  constructor(readonly inner: LocalStorage) {}
  put(key: string, body: Readable | Buffer, contentType: string): Promise<StoredObject> {
    return this.inner.put(key, body, contentType);
  }
  async delete(key: string): Promise<void> {
    if (this.failing) throw new Error('storage is down');
    return this.inner.delete(key);
  }
  urlFor(key: string) {
    return this.inner.urlFor(key);
  }
  keyFromUrl(url: string) {
    return this.inner.keyFromUrl(url);
  }
}

let t: TestApp;
let isolated: Awaited<ReturnType<typeof isolatedDatabase>>;
const sender = new RecordingPushSender();
let storage: FlakyStorage;

beforeAll(async () => {
  isolated = await isolatedDatabase();
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-effects-'));
  storage = new FlakyStorage(new LocalStorage(dir, 'http://127.0.0.1/uploads'));
  t = await startApp(isolated.env, { pushSender: sender, storage });
}, 180_000); // the first app of a worker opens and migrates PGlite: slow on a busy machine
afterAll(async () => {
  await t?.close();
  await isolated?.drop();
});

const db = () => t.deps.database.db;
const NOT_NULL_VIOLATION = '23502';

async function until(check: () => Promise<boolean> | boolean, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await settle(20);
  }
}

const nameOf = async (userId: string) =>
  (await rows<{ name: string }>(db(), sql`select name from users where id = ${userId}`))[0].name;

const outboxOf = (userId: string) =>
  rows<{ id: number; event: string; chat_id: string | null; title: string; body: string; attempts: number; sent: boolean; delivered_tokens: string[] }>(
    db(),
    sql`select id::int as id, event, chat_id, title, body, attempts, sent_at is not null as sent, delivered_tokens
        from push_outbox where user_id = ${userId} order by id`,
  );

const pendingDeletes = (key: string) =>
  rows<{ id: number; attempts: number; last_error: string | null }>(
    db(),
    sql`select id::int as id, attempts, last_error from pending_object_deletes where key = ${key}`,
  );

describe('transaction(): socket events', () => {
  it('fire after commit, not while the transaction is open, and skip the excepted socket', async () => {
    const a = await t.user();
    const s1 = await t.socket(a);
    const s2 = await t.socket(a);
    const early = record(s2, 'effect-test');
    const excluded = record(s1, 'effect-test');
    const arrived = nextEvent(s2, 'effect-test', 15000);
    let seenInside = -1;
    await transaction(t.deps, async (tx, effects) => {
      await tx.execute(sql`update users set name = 'after commit' where id = ${a.id}`);
      effects.emit([a.id], 'effect-test', { chat: 'x' }, s1.id);
      await settle(250);
      seenInside = early.length;
    });
    expect(seenInside).toBe(0);
    expect(await arrived).toEqual({ chat: 'x' });
    // Whoever gets the event can already read what the transaction wrote.
    expect(await nameOf(a.id)).toBe('after commit');
    await settle();
    expect(excluded).toEqual([]);
  });

  it('never fire after a rollback, and the rollback undoes the writes', async () => {
    const a = await t.user();
    const s1 = await t.socket(a);
    const seen = record(s1, 'effect-test');
    const before = await nameOf(a.id);
    await expect(
      transaction(t.deps, async (tx, effects) => {
        effects.emit([a.id], 'effect-test', { n: 1 });
        await tx.execute(sql`update users set name = 'rolled back' where id = ${a.id}`);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await settle(300);
    expect(seen).toEqual([]);
    expect(await nameOf(a.id)).toBe(before);
  });
});

describe.skipIf(dbKind !== 'postgres')('transaction(): deadlocks', () => {
  it('the transaction PostgreSQL aborts (40P01) runs again with fresh effects, and both commit', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const socket = await t.socket(a);
    const seen = record(socket, 'effect-test');
    const runs: string[] = [];
    let firstLocks = 0;
    let bothLocked!: () => void;
    const barrier = new Promise<void>((resolve) => (bothLocked = resolve));
    // Each locks one user row, waits until the other holds its row, then asks for the other's.
    const lockBoth = (label: string, first: string, second: string) =>
      transaction(t.deps, async (tx, effects) => {
        runs.push(label);
        effects.emit([a.id], 'effect-test', { label, run: runs.length });
        await tx.execute(sql`update users set name = ${label} where id = ${first}`);
        if (++firstLocks === 2) bothLocked();
        await barrier;
        await tx.execute(sql`update users set name = ${label} where id = ${second}`);
      });
    await Promise.all([lockBoth('one', a.id, b.id), lockBoth('two', b.id, a.id)]);

    expect(runs).toHaveLength(3);
    const retried = runs[2];
    // The retried run committed last, so both rows carry its name; the aborted run fired nothing.
    expect(await nameOf(a.id)).toBe(retried);
    expect(await nameOf(b.id)).toBe(retried);
    await settle(300);
    expect(seen.map((e) => e.label).sort()).toEqual(['one', 'two']);
    expect(seen.find((e) => e.label === retried).run).toBe(3);
  });

  it('other errors are not retried', async () => {
    let runs = 0;
    await expect(
      transaction(t.deps, async (tx) => {
        runs++;
        await tx.execute(sql`select 1 / 0`);
      }),
    ).rejects.toThrow();
    expect(runs).toBe(1);
  });
});

describe('transaction(): outbox rows', () => {
  it('writes push rows and pending object deletes with the work, in one transaction', async () => {
    const a = await t.user();
    await addDevice(t, a);
    const key = `tests/${unique('k')}.jpg`;
    await transaction(t.deps, async (tx, effects) => {
      await tx.execute(sql`update users set name = 'pushed' where id = ${a.id}`);
      effects.push([a.id, a.id], { event: 'chat-joined', chat: null, title: 'Joined', body: 'You joined' });
      effects.deleteObject(key);
      effects.deleteObject(null);
    });
    const outbox = await outboxOf(a.id);
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ event: 'chat-joined', chat_id: null, title: 'Joined', body: 'You joined' });
    // The deleter runs right after commit; the key was never stored, so the row goes quickly.
    await until(async () => (await pendingDeletes(key)).length === 0);
  });

  it('writes push rows only for users with a device, and wakes the worker only for rows written', async () => {
    const [withDevice, without, alsoWithout] = [await t.user(), await t.user(), await t.user()];
    await addDevice(t, withDevice);
    const wakes: number[] = [];
    const counting = { ...t.deps, pushWorker: { ...t.deps.pushWorker, wake: () => wakes.push(1) } };
    const message = { event: 'message-created', chat: null, title: 'T', body: 'B' };
    await transaction(counting, async (_tx, effects) => effects.push([withDevice.id, without.id], message));
    expect(await outboxOf(withDevice.id)).toEqual([expect.objectContaining({ title: 'T', body: 'B' })]);
    expect(await outboxOf(without.id)).toEqual([]);
    expect(wakes).toHaveLength(1);
    await transaction(counting, async (_tx, effects) => effects.push([without.id, alsoWithout.id], message));
    expect(await outboxOf(alsoWithout.id)).toEqual([]);
    expect(wakes).toHaveLength(1);
  });

  it('writes neither when the transaction rolls back, even when the outbox insert is what fails', async () => {
    const a = await t.user();
    const s1 = await t.socket(a);
    const seen = record(s1, 'effect-test');
    const key = `tests/${unique('k')}.jpg`;
    await addDevice(t, a);
    const before = await nameOf(a.id);
    // A push without a title fails on the outbox's not-null constraint: the last statements of
    // the transaction. Everything before them must be undone too.
    const error = await transaction(t.deps, async (tx, effects) => {
      await tx.execute(sql`update users set name = 'half done' where id = ${a.id}`);
      effects.emit([a.id], 'effect-test', {});
      effects.deleteObject(key);
      effects.push([a.id], { event: 'chat-joined', chat: null, title: null as unknown as string, body: 'b' });
    }).then(() => null, (e: unknown) => e);
    expect(pgErrorCode(error)).toBe(NOT_NULL_VIOLATION);
    expect(await nameOf(a.id)).toBe(before);
    expect(await outboxOf(a.id)).toEqual([]);
    expect(await pendingDeletes(key)).toEqual([]);
    await settle(200);
    expect(seen).toEqual([]);
  });

  it('a failing push insert, the last statement (sent along with COMMIT), fails the transaction with its own error', async () => {
    const a = await t.user();
    await addDevice(t, a);
    const before = await nameOf(a.id);
    const error = await transaction(t.deps, async (tx, effects) => {
      await tx.execute(sql`update users set name = 'half done' where id = ${a.id}`);
      effects.push([a.id], { event: 'chat-joined', chat: null, title: 't', body: 'b' });
      effects.push([a.id], { event: 'chat-joined', chat: null, title: null as unknown as string, body: 'b' });
    }).then(() => null, (e: unknown) => e);
    expect(pgErrorCode(error)).toBe(NOT_NULL_VIOLATION);
    expect(await nameOf(a.id)).toBe(before);
    expect(await outboxOf(a.id)).toEqual([]);
    // The connection is clean afterwards: the next transactions commit.
    for (let i = 0; i < 6; i++) {
      await transaction(t.deps, async (tx, effects) => {
        await tx.execute(sql`update users set name = ${`after ${i}`} where id = ${a.id}`);
        effects.push([a.id], { event: 'chat-joined', chat: null, title: 't', body: `b${i}` });
      });
    }
    expect(await nameOf(a.id)).toBe('after 5');
    expect((await outboxOf(a.id)).map((row) => row.body)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
  });
});

describe('push worker', () => {
  it("delivers to every device of the user and no one else's, then marks the row sent", async () => {
    const a = await t.user();
    const other = await t.user();
    const phone = await addDevice(t, a, 'android');
    const tablet = await addDevice(t, a, 'ios');
    const otherPhone = await addDevice(t, other);
    await transaction(t.deps, async (_tx, effects) => {
      effects.push([a.id], { event: 'message-created', chat: null, title: 'Max', body: 'hello' });
    });
    await until(async () => (await outboxOf(a.id))[0]?.sent === true);
    expect(sender.to(a.id).map((s) => [s.token, s.platform]).sort()).toEqual([[phone, 'android'], [tablet, 'ios']].sort());
    expect(sender.to(a.id)[0].message).toMatchObject({ userId: a.id, event: 'message-created', title: 'Max', body: 'hello', chatId: null });
    expect(sender.sent.some((s) => s.token === otherPhone)).toBe(false);
    const [row] = await outboxOf(a.id);
    expect(row.delivered_tokens.sort()).toEqual([phone, tablet].sort());
  });

  it("retries a 'retry' later, only to the devices still owed, and deletes 'unregistered' devices", async () => {
    const a = await t.user();
    const good = await addDevice(t, a);
    const flaky = await addDevice(t, a);
    const dead = await addDevice(t, a);
    let flakyDown = true;
    sender.answer = (device) =>
      device.token === flaky && flakyDown
        ? { status: 'retry', error: 'HTTP 503' }
        : device.token === dead
          ? { status: 'unregistered' }
          : { status: 'sent' };
    try {
      await transaction(t.deps, async (_tx, effects) => {
        effects.push([a.id], { event: 'chat-joined', chat: null, title: 't', body: 'b' });
      });
      await until(async () => (await outboxOf(a.id))[0]?.attempts === 1 && sender.to(a.id).length === 1);
      await settle(100);
      let [row] = await outboxOf(a.id);
      expect(row).toMatchObject({ sent: false, attempts: 1, delivered_tokens: [good] });
      const devices = await rows<{ token: string }>(db(), sql`select token from devices where user_id = ${a.id}`);
      expect(devices.map((d) => d.token).sort()).toEqual([good, flaky].sort());

      // Not due yet: a pass now leaves it alone.
      await t.deps.pushWorker.runOnce();
      expect((await outboxOf(a.id))[0].attempts).toBe(1);

      flakyDown = false;
      await db().execute(sql`update push_outbox set next_attempt_at = now() - interval '1 second' where id = ${row.id}`);
      await t.deps.pushWorker.runOnce();
      [row] = await outboxOf(a.id);
      expect(row).toMatchObject({ sent: true, attempts: 2 });
      expect(row.delivered_tokens.sort()).toEqual([good, flaky].sort());
      expect(sender.to(a.id).map((s) => s.token).sort()).toEqual([good, flaky].sort());
    } finally {
      sender.answer = () => ({ status: 'sent' });
    }
  });

  it('never delivers a row twice when passes run at the same time, on one worker or two', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => t.user()));
    const tokens = new Map<string, string>();
    for (const u of users) tokens.set(u.id, await addDevice(t, u));
    const insertRows = async (n: number) => {
      for (const u of users) {
        for (let i = 0; i < n; i++) {
          await db().execute(sql`insert into push_outbox (user_id, event, title, body) values (${u.id}, 'race', ${`n${i}`}, 'b')`);
        }
      }
    };
    const deliveries = () => {
      const counts = new Map<number, number>();
      for (const u of users) for (const s of sender.to(u.id)) counts.set(s.message.id, (counts.get(s.message.id) ?? 0) + 1);
      return counts;
    };

    sender.delayMs = 3;
    let second: Database | null = null;
    try {
      // Two passes of this node's worker at once.
      await insertRows(15);
      await Promise.all([t.deps.pushWorker.runOnce(), t.deps.pushWorker.runOnce()]);
      // Two workers (two nodes) on the same database; on PostgreSQL the second has its own pool.
      await insertRows(15);
      second = t.kind === 'postgres'
        ? await openDatabase({ url: isolated.env.DATABASE_URL, poolSize: 3, pgliteDir: null })
        : null;
      // Small batches, so that many claims overlap.
      const others = [1, 2, 3].map(() =>
        createPushWorker(second ?? t.deps.database, sender, t.deps.log, { intervalMs: 60000, maxAttempts: 8, batchSize: 3 }),
      );
      await Promise.all([t.deps.pushWorker.runOnce(), ...others.map((w) => w.runOnce()), ...others.map((w) => w.runOnce())]);
      await Promise.all(others.map((w) => w.stop()));
    } finally {
      sender.delayMs = 0;
      await second?.close();
    }
    const counts = deliveries();
    expect(counts.size).toBe(users.length * 30);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    for (const u of users) {
      const outbox = await outboxOf(u.id);
      expect(outbox.every((r) => r.sent && r.attempts === 1)).toBe(true);
      expect(sender.to(u.id).every((s) => s.token === tokens.get(u.id))).toBe(true);
    }
  });
});

describe('object deleter', () => {
  it('deletes the object only after commit, and not at all after a rollback', async () => {
    const key = `tests/${unique('obj')}.png`;
    const kept = `tests/${unique('obj')}.png`;
    await storage.put(key, Buffer.from('png'), 'image/png');
    await storage.put(kept, Buffer.from('png'), 'image/png');
    const file = storage.inner.pathOf(key)!;
    let existedInside = false;
    await transaction(t.deps, async (_tx, effects) => {
      effects.deleteObject(key);
      await settle(100);
      existedInside = existsSync(file);
    });
    expect(existedInside).toBe(true);
    await until(() => !existsSync(file));
    await until(async () => (await pendingDeletes(key)).length === 0);

    await transaction(t.deps, async (_tx, effects) => {
      effects.deleteObject(kept);
      throw new Error('no');
    }).catch(() => {});
    await settle(200);
    expect(existsSync(storage.inner.pathOf(kept)!)).toBe(true);
    expect(await pendingDeletes(kept)).toEqual([]);
  });

  it('keeps a failed delete with attempts + 1, and a later sweep retries it', async () => {
    const key = `tests/${unique('obj')}.jpg`;
    await storage.put(key, Buffer.from('jpg'), 'image/jpeg');
    const file = storage.inner.pathOf(key)!;
    storage.failing = true;
    try {
      await transaction(t.deps, async (_tx, effects) => effects.deleteObject(key));
      await until(async () => (await pendingDeletes(key))[0]?.attempts === 1);
      const [row] = await pendingDeletes(key);
      expect(row.last_error).toContain('storage is down');
      expect(existsSync(file)).toBe(true);

      // Retried with backoff: a sweep right now does not touch it yet.
      storage.failing = false;
      await t.deps.objectDeleter.sweep();
      expect(await pendingDeletes(key)).toHaveLength(1);
      expect(existsSync(file)).toBe(true);
    } finally {
      storage.failing = false;
    }
    await db().execute(sql`update pending_object_deletes set next_attempt_at = now() - interval '1 second' where key = ${key}`);
    expect(await t.deps.objectDeleter.sweep()).toBeGreaterThanOrEqual(1);
    expect(await pendingDeletes(key)).toEqual([]);
    expect(existsSync(file)).toBe(false);
  });
});
