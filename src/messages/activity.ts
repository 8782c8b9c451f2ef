// The chat-list order of large chats (src/db/schema.ts chats.activity_pending). A message into a
// chat of more than ACTIVITY_INLINE_MAX participants moves only its sender's copy in its
// transaction; the other participants' copies are rewritten after the commit, at most once per
// chat every ACTIVITY_REFRESH_MS on a node, however many messages arrive meanwhile. Rewriting
// 1,000 rows costs PostgreSQL ~45 ms: once per message it would hold back the message's delivery,
// and a group with ten messages a second would need more than a core for it alone. The
// participants got each message's socket event at once; only the list order of the others lags,
// by at most ACTIVITY_REFRESH_MS plus the rewrite's own spread (ACTIVITY_REFRESH_BATCH
// participants per statement, ACTIVITY_BATCH_PAUSE_MS apart). Every other write that moves a
// large chat's activity (its last message deleted, an edit or a membership change of a chat
// without messages) flags it the same way (effects.refreshActivity). A sweep finishes what a
// node that died meanwhile left.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Database, Db } from '../db/client.js';
import * as participants from '../participants/queries.js';
import type { Deps } from '../shared/deps.js';
import type { Effects } from '../shared/effects.js';
import { pendingActivityChats, refreshActivity, refreshPendingActivity } from './queries.js';

/**
 * In a write's transaction, after the chat's last message or (for a chat without messages)
 * updated_at moved: the participants' order copies follow, in the transaction for a small chat,
 * after the commit for a large one. Returns every participant's user id.
 */
export async function refreshChatActivity(deps: Deps, tx: Db, effects: Effects, chatId: string): Promise<string[]> {
  const { userIds, pending } = await refreshActivity(tx, chatId, deps.config.limits.activityInlineMax);
  if (pending) effects.refreshActivity(chatId);
  return userIds;
}

/** In a membership or role change's transaction: participants/queries.ts touchChat, and the same. */
export async function touchChat(deps: Deps, tx: Db, effects: Effects, chatId: string, participantsDelta: number): Promise<void> {
  if (await participants.touchChat(tx, chatId, participantsDelta, deps.config.limits.activityInlineMax)) {
    effects.refreshActivity(chatId);
  }
}

export interface ActivityRefresher {
  /** The chat's participants' order is to be rewritten (a write flagged it activity_pending and committed). */
  schedule(chatId: string): void;
  /**
   * What runs every sweepMs (at least delayMs): rewrites the chats, not due here, that were
   * flagged at its last run too, what a node that died between a commit and its rewrite left; a
   * chat flagged more recently is most likely due on the node that flagged it. Returns how many.
   */
  sweep(): Promise<number>;
  start(): void;
  /** Rewrites what is scheduled now, then stops. */
  stop(): Promise<void>;
}

export interface ActivityRefresherOptions {
  /** The most a chat's rewrite waits after the first message that needs it. */
  delayMs: number;
  /** How often the database is searched for flags a dead node left (at least delayMs). */
  sweepMs: number;
  /** Participants rewritten per statement (queries.ts refreshPendingActivity). */
  batch: number;
}

const SWEEP_BATCH = 100;
/**
 * Between two statements of one chat's rewrite. 1,000 participants are ten statements of ~4.5 ms
 * of PostgreSQL: spread over ~140 ms rather than one 45 ms burst, a fan-out running meanwhile
 * loses a few milliseconds to it instead of all 45 (bench P4: the burst was its p99's tail).
 */
export const ACTIVITY_BATCH_PAUSE_MS = 10;

export function createActivityRefresher(
  database: Database,
  chatLists: Deps['chatLists'],
  log: FastifyBaseLogger,
  options: ActivityRefresherOptions,
): ActivityRefresher {
  const scheduled = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let sweeper: NodeJS.Timeout | null = null;
  let sweeping: Promise<number> | null = null;
  let stopping = false;
  const batches = {
    size: options.batch,
    // Shutdown does what is scheduled at once.
    between: () => (stopping ? Promise.resolve() : sleep(ACTIVITY_BATCH_PAUSE_MS)),
  };

  /** Never throws: a failure leaves the flag set for the sweep. */
  async function refresh(chatId: string): Promise<void> {
    try {
      const moved = await refreshPendingActivity(database.db, chatId, batches);
      // Their cached lists were dropped by the message's event but may have been filled again,
      // in the old order, before this statement.
      chatLists.invalidate(moved);
    } catch (error) {
      log.warn({ err: error, chatId }, 'chat activity refresh failed; the sweep retries it');
    }
  }

  function runNow(chatId: string): Promise<void> {
    const timer = scheduled.get(chatId);
    if (timer) clearTimeout(timer);
    scheduled.delete(chatId);
    const work = refresh(chatId);
    running.add(work);
    void work.finally(() => running.delete(work));
    return work;
  }

  /** Flagged chats the last periodic pass found: the next one rewrites those still flagged. */
  let seen = new Set<string>();

  // A batch per pass: a rewrite that keeps failing is retried next pass, never in a tight loop.
  async function pass(): Promise<number> {
    const chatIds = await pendingActivityChats(database.db, SWEEP_BATCH);
    const due = chatIds.filter((chatId) => seen.has(chatId));
    seen = new Set(chatIds);
    let rewritten = 0;
    for (const chatId of due) {
      if (scheduled.has(chatId)) continue;
      await runNow(chatId);
      rewritten++;
    }
    return rewritten;
  }

  const sweep = () => (sweeping ??= pass().finally(() => (sweeping = null)));

  return {
    schedule(chatId) {
      if (scheduled.has(chatId)) return; // the rewrite already due reads the newest activity
      const timer = setTimeout(() => void runNow(chatId), options.delayMs);
      timer.unref();
      scheduled.set(chatId, timer);
    },
    sweep,
    start() {
      if (sweeper) return;
      sweeper = setInterval(() => {
        sweep().catch((error: Error) => log.warn({ err: error }, 'chat activity sweep failed'));
      }, Math.max(options.sweepMs, options.delayMs));
      sweeper.unref();
    },
    async stop() {
      stopping = true;
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      await sweeping?.catch(() => {});
      await Promise.all([...scheduled.keys()].map(runNow));
      await Promise.allSettled([...running]);
    },
  };
}
