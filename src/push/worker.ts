// Delivers push_outbox rows. A row is claimed with FOR UPDATE SKIP LOCKED and leased (its
// next_attempt_at moved past the lease) before anything is sent, so two nodes running workers
// never send the same row; tokens already delivered are recorded so a retry skips them.
//
// A batch costs two statements whatever its size (bench/RESULTS.md P3/P6): the claim, which also
// reads the users' devices, and one write of every row's outcome (and of the devices found dead).
// A row whose user has no device left (removed since the row was written; users without one get
// no row, src/push/queries.ts) sends nothing. Until the outcome is written the rows stay leased:
// a crash after sends re-sends, after the lease, to the tokens of the batch not yet recorded,
// never before. Finished rows are kept for PUSH_RETENTION_HOURS, then deleted by a purge every
// node runs (push_outbox_finished_idx).
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/client.js';
import { claimBatch, deleteFinishedRows, recordOutcomes, type ClaimedMessage, type Outcome } from './queries.js';
import type { PushSender } from './sender.js';

export interface PushWorker {
  wake(): void;
  /** One pass over due rows; returns how many rows it finished (sent or given up). */
  runOnce(): Promise<number>;
  /** Deletes the rows finished longer ago than the retention; returns how many. */
  purgeOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export interface PushWorkerOptions {
  intervalMs: number;
  maxAttempts: number;
  batchSize?: number;
  leaseSeconds?: number;
  /** Users of a batch served at the same time (one user's rows go out one after another, in order). */
  sendConcurrency?: number;
  /**
   * How long a wake waits, so that the rows of every message committed meanwhile are claimed
   * together: under load one claim and one outcome write serve many messages instead of each.
   * 200 ms, a small part of a notification's way through FCM: at 20 ms, bench P6 made a claim
   * of ~3 rows 23 times a second, and the worker's statements were 6% of PostgreSQL's time.
   */
  wakeDelayMs?: number;
  /** Finished rows (sent or given up) are kept this long, for a look at what went out, then deleted. */
  retentionHours?: number;
  purgeIntervalMs?: number;
}

/** Rows deleted per statement of a purge, and statements per purge at most (the rest waits for the next). */
const PURGE_BATCH = 5000;
const PURGE_STATEMENTS_MAX = 20;

export function backoffMs(attempt: number): number {
  return Math.min(60 * 60 * 1000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** Runs `work` over `items` with at most `limit` running at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export function createPushWorker(
  database: Database,
  sender: PushSender,
  log: FastifyBaseLogger,
  options: PushWorkerOptions,
): PushWorker {
  const batchSize = options.batchSize ?? 50;
  const leaseSeconds = options.leaseSeconds ?? 300;
  const sendConcurrency = options.sendConcurrency ?? 8;
  const wakeDelayMs = options.wakeDelayMs ?? 200;
  const retentionHours = options.retentionHours ?? 24;
  const purgeIntervalMs = options.purgeIntervalMs ?? 10 * 60 * 1000;
  let timer: NodeJS.Timeout | null = null;
  let purgeTimer: NodeJS.Timeout | null = null;
  let purging: Promise<number> | null = null;
  let current: Promise<number> | null = null;
  let again = false;
  let stopped = false;

  /**
   * Sends one row to its user's devices not served yet. `dead` is shared by the batch: a token
   * FCM called unregistered for one row is not tried again for the next rows of that user.
   */
  async function deliver(row: ClaimedMessage, dead: Map<string, string>): Promise<Outcome> {
    const delivered = new Set(row.deliveredTokens);
    let retry: { error: string; retryAfterMs?: number } | null = null;
    for (const device of row.devices) {
      if (delivered.has(device.token) || dead.has(device.token)) continue;
      const result = await sender.send(device, row).catch((error: Error) => ({
        status: 'retry' as const,
        error: error.message,
        retryAfterMs: undefined,
      }));
      if (result.status === 'sent') {
        delivered.add(device.token);
      } else if (result.status === 'unregistered') {
        dead.set(device.token, row.userId);
      } else if (result.status === 'failed') {
        delivered.add(device.token); // never succeeds: do not try this device again for this row
        log.warn({ user: row.userId, error: result.error }, 'push rejected');
      } else {
        retry = retry ?? { error: result.error, retryAfterMs: result.retryAfterMs };
      }
    }
    const tokens = [...delivered];
    if (!retry) return { id: row.id, outcome: 'sent', delivered: tokens };
    if (row.attempts >= options.maxAttempts) {
      log.warn({ outbox: row.id, error: retry.error }, 'push given up after max attempts');
      return { id: row.id, outcome: 'failed', delivered: tokens, error: retry.error };
    }
    const delayMs = Math.max(retry.retryAfterMs ?? 0, backoffMs(row.attempts));
    return { id: row.id, outcome: 'retry', delivered: tokens, error: retry.error, delaySeconds: delayMs / 1000 };
  }

  /** Sends a claimed batch and writes its outcome; returns how many rows it finished. */
  async function deliverBatch(claimed: ClaimedMessage[]): Promise<number> {
    // One user's rows in claim order (oldest first), so its devices get them in order, as before.
    const byUser = new Map<string, ClaimedMessage[]>();
    for (const row of claimed) {
      const userRows = byUser.get(row.userId);
      if (userRows) userRows.push(row);
      else byUser.set(row.userId, [row]);
    }
    const outcomes: Outcome[] = [];
    const dead = new Map<string, string>(); // token → user
    await eachLimited([...byUser.values()], sendConcurrency, async (userRows) => {
      for (const row of userRows) outcomes.push(await deliver(row, dead));
    });
    await recordOutcomes(database.db, outcomes, [...dead.keys()]);
    for (const user of dead.values()) log.info({ user }, 'push token unregistered; device removed');
    return outcomes.filter((o) => o.outcome !== 'retry').length;
  }

  async function pass(): Promise<number> {
    let finished = 0;
    for (;;) {
      const claimed = await claimBatch(database.db, batchSize, leaseSeconds);
      if (claimed.length > 0) finished += await deliverBatch(claimed);
      if (claimed.length < batchSize || stopped) return finished;
    }
  }

  function run(): Promise<number> {
    if (current) {
      again = true;
      return current;
    }
    current = pass()
      .catch((error) => {
        log.warn({ err: error }, 'push worker pass failed');
        return 0;
      })
      .finally(() => {
        current = null;
        if (again && !stopped) {
          again = false;
          void run();
        }
      });
    return current;
  }

  /** Small batches, so no statement holds many row locks or runs long next to the traffic. */
  function purge(): Promise<number> {
    purging ??= (async () => {
      let deleted = 0;
      for (let i = 0; i < PURGE_STATEMENTS_MAX && !stopped; i++) {
        const n = await deleteFinishedRows(database.db, retentionHours, PURGE_BATCH);
        deleted += n;
        if (n < PURGE_BATCH) break;
      }
      return deleted;
    })()
      .catch((error) => {
        log.warn({ err: error }, 'push outbox purge failed');
        return 0;
      })
      .finally(() => {
        purging = null;
      });
    return purging;
  }

  let wakeTimer: NodeJS.Timeout | null = null;
  return {
    wake() {
      if (stopped || wakeTimer) return;
      wakeTimer = setTimeout(() => {
        wakeTimer = null;
        if (!stopped) void run();
      }, wakeDelayMs);
    },
    runOnce: () => (current ? current.then(() => run()) : run()),
    purgeOnce: () => (purging ? purging.then(() => purge()) : purge()),
    start() {
      stopped = false;
      if (timer) return;
      timer = setInterval(() => void run(), options.intervalMs);
      timer.unref();
      purgeTimer = setInterval(() => void purge(), purgeIntervalMs);
      purgeTimer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      if (purgeTimer) clearInterval(purgeTimer);
      purgeTimer = null;
      if (wakeTimer) clearTimeout(wakeTimer);
      wakeTimer = null;
      if (current) await current;
      if (purging) await purging;
    },
  };
}

