// Delivers push_outbox rows. A row is claimed with FOR UPDATE SKIP LOCKED and leased (its
// next_attempt_at moved past the lease) before anything is sent, so two nodes running workers
// never send the same row; tokens already delivered are recorded so a retry skips them.
import type { FastifyBaseLogger } from 'fastify';
import { rows, sql, textArray, type Database } from '../db/client.js';
import type { OutboxMessage, PushDevice, PushSender } from './sender.js';

export interface PushWorker {
  wake(): void;
  /** One pass over due rows; returns how many rows it finished (sent or given up). */
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export interface PushWorkerOptions {
  intervalMs: number;
  maxAttempts: number;
  batchSize?: number;
  leaseSeconds?: number;
}

export function backoffMs(attempt: number): number {
  return Math.min(60 * 60 * 1000, 1000 * 2 ** Math.max(0, attempt - 1));
}

export function createPushWorker(
  database: Database,
  sender: PushSender,
  log: FastifyBaseLogger,
  options: PushWorkerOptions,
): PushWorker {
  const batchSize = options.batchSize ?? 50;
  const leaseSeconds = options.leaseSeconds ?? 300;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<number> | null = null;
  let again = false;
  let stopped = false;

  async function claim() {
    return database.db.transaction(async (tx) =>
      rows<OutboxMessage & { attempts: number; deliveredTokens: string[] }>(
        tx as any,
        sql`update push_outbox set attempts = attempts + 1,
              next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
            where id in (
              select id from push_outbox
              where sent_at is null and failed_at is null and next_attempt_at <= now()
              order by next_attempt_at, id limit ${batchSize}
              for update skip locked)
            returning id::int as id, user_id as "userId", event, chat_id as "chatId", title, body,
                      attempts, delivered_tokens as "deliveredTokens"`,
      ),
    );
  }

  async function deliver(row: OutboxMessage & { attempts: number; deliveredTokens: string[] }): Promise<boolean> {
    const devices = await rows<PushDevice>(
      database.db,
      sql`select token, platform from devices where user_id = ${row.userId} order by created_at`,
    );
    const delivered = new Set(row.deliveredTokens);
    let retry: { error: string; retryAfterMs?: number } | null = null;
    for (const device of devices) {
      if (delivered.has(device.token)) continue;
      const result = await sender.send(device, row).catch((error: Error) => ({
        status: 'retry' as const,
        error: error.message,
        retryAfterMs: undefined,
      }));
      if (result.status === 'sent') {
        delivered.add(device.token);
      } else if (result.status === 'unregistered') {
        await database.db.execute(sql`delete from devices where token = ${device.token}`);
        log.info({ user: row.userId }, 'push token unregistered; device removed');
      } else if (result.status === 'failed') {
        delivered.add(device.token); // never succeeds: do not try this device again for this row
        log.warn({ user: row.userId, error: result.error }, 'push rejected');
      } else {
        retry = retry ?? { error: result.error, retryAfterMs: result.retryAfterMs };
      }
    }
    const tokens = [...delivered];
    if (!retry) {
      await database.db.execute(sql`update push_outbox set sent_at = now(), delivered_tokens = ${textArray(tokens)}
        where id = ${row.id}`);
      return true;
    }
    if (row.attempts >= options.maxAttempts) {
      await database.db.execute(sql`update push_outbox set failed_at = now(), last_error = ${retry.error.slice(0, 500)},
        delivered_tokens = ${textArray(tokens)} where id = ${row.id}`);
      log.warn({ outbox: row.id, error: retry.error }, 'push given up after max attempts');
      return true;
    }
    const delay = Math.max(retry.retryAfterMs ?? 0, backoffMs(row.attempts));
    await database.db.execute(sql`update push_outbox set last_error = ${retry.error.slice(0, 500)},
      delivered_tokens = ${textArray(tokens)},
      next_attempt_at = now() + make_interval(secs => ${delay / 1000}) where id = ${row.id}`);
    return false;
  }

  async function pass(): Promise<number> {
    let finished = 0;
    for (;;) {
      const claimed = await claim();
      for (const row of claimed) {
        if (await deliver(row)) finished++;
      }
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

  return {
    wake() {
      if (!stopped) void run();
    },
    runOnce: () => (current ? current.then(() => run()) : run()),
    start() {
      stopped = false;
      if (timer) return;
      timer = setInterval(() => void run(), options.intervalMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      if (current) await current;
    },
  };
}

