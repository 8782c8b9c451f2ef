// Deletes storage objects recorded in pending_object_deletes (written in the transaction that
// made them garbage). Tried right after commit; a failure stays in the table and is retried with
// backoff by the sweep, so no object is ever orphaned (rulings.md 29).
import type { FastifyBaseLogger } from 'fastify';
import { rows, sql, type Database } from '../db/client.js';
import type { Storage } from './port.js';

export interface ObjectDeleter {
  deleteNow(ids: number[]): void;
  /** Deletes every due object; returns how many were deleted. */
  sweep(): Promise<number>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

const BATCH = 100;

export function createObjectDeleter(database: Database, storage: Storage, log: FastifyBaseLogger): ObjectDeleter {
  let timer: NodeJS.Timeout | null = null;
  const running = new Set<Promise<unknown>>();

  const track = <T>(p: Promise<T>) => {
    running.add(p);
    p.finally(() => running.delete(p)).catch(() => {});
    return p;
  };

  // Claim due rows (SKIP LOCKED: two nodes never work on the same row), delete, then forget them.
  async function process(filter: ReturnType<typeof sql>): Promise<number> {
    return database.db.transaction(async (tx) => {
      const due = await rows<{ id: number; key: string; attempts: number }>(
        tx as any,
        sql`select id, key, attempts from pending_object_deletes where ${filter}
            order by id limit ${BATCH} for update skip locked`,
      );
      let deleted = 0;
      for (const row of due) {
        try {
          await storage.delete(row.key);
          await tx.execute(sql`delete from pending_object_deletes where id = ${row.id}`);
          deleted++;
        } catch (error) {
          const delaySeconds = Math.min(3600, 2 ** Math.min(row.attempts, 12));
          await tx.execute(sql`update pending_object_deletes
            set attempts = attempts + 1, last_error = ${String((error as Error).message).slice(0, 500)},
                next_attempt_at = now() + make_interval(secs => ${delaySeconds})
            where id = ${row.id}`);
          log.warn({ err: error, key: row.key }, 'object delete failed; will retry');
        }
      }
      return deleted;
    });
  }

  return {
    deleteNow(ids) {
      track(process(sql`id = any(${`{${ids.map(Number).join(',')}}`}::int[])`)).catch((error) =>
        log.warn({ err: error }, 'object delete pass failed'),
      );
    },
    sweep: () => track(process(sql`next_attempt_at <= now()`)),
    start(intervalMs) {
      if (timer) return;
      timer = setInterval(() => {
        track(process(sql`next_attempt_at <= now()`)).catch((error) => log.warn({ err: error }, 'object delete sweep failed'));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await Promise.allSettled([...running]);
    },
  };
}
