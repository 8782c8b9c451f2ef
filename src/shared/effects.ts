// Side effects that leave the process (socket events, pushes, object deletes) are collected while
// a service works and fire only after its transaction commits (STYLE.md 7). Pushes and object
// deletes are written as rows in the same transaction, so a crash after commit loses neither.
import { sendAlongCommit, type Db } from '../db/client.js';
import { pendingObjectDeletes } from '../db/schema.js';
import { insertPushRows } from '../push/queries.js';
import { pgErrorCode } from './errors.js';
import type { Deps } from './deps.js';

export interface PushMessage {
  event: string;
  chat?: string | null;
  title: string;
  body: string;
}

interface SocketEvent {
  userIds: string[];
  event: string;
  payload: unknown;
  exceptSocket?: string;
}

export class Effects {
  private readonly events: SocketEvent[] = [];
  private readonly pushes: { userIds: string[]; message: PushMessage }[] = [];
  private readonly objectKeys: string[] = [];
  private readonly staleLists = new Set<string>();
  private readonly activityChats = new Set<string>();
  private deleteIds: number[] = [];
  /** Outbox rows persist() wrote: users without a device get none. */
  private pushRows = 0;

  /** A socket event to every socket of these users, but `exceptSocket` (rulings.md 7). */
  emit(userIds: Iterable<string>, event: string, payload: unknown, exceptSocket?: string): void {
    const ids = [...new Set(userIds)];
    if (ids.length > 0) this.events.push({ userIds: ids, event, payload, exceptSocket });
  }

  push(userIds: Iterable<string>, message: PushMessage): void {
    const ids = [...new Set(userIds)];
    if (ids.length > 0) this.pushes.push({ userIds: ids, message });
  }

  /** Deletes a storage object after commit; a failed delete is retried by the worker. */
  deleteObject(key: string | null | undefined): void {
    if (key) this.objectKeys.push(key);
  }

  /**
   * After commit, drops these users' cached GET /chats answers on every node. Only for changes
   * of their lists that send them no socket event: every emit() invalidates its users already
   * (src/realtime/server.ts).
   */
  staleChatLists(userIds: Iterable<string>): void {
    for (const id of userIds) this.staleLists.add(id);
  }

  /**
   * After commit, has the participants' list-order copies of this large chat rewritten
   * (src/messages/activity.ts): for a write that flagged it activity_pending.
   */
  refreshActivity(chatId: string): void {
    this.activityChats.add(chatId);
  }

  /** Writes the outbox rows; runs as the transaction's last statements. */
  async persist(tx: Db): Promise<void> {
    if (this.objectKeys.length > 0) {
      const inserted = await tx
        .insert(pendingObjectDeletes)
        .values(this.objectKeys.map((key) => ({ key })))
        .returning({ id: pendingObjectDeletes.id });
      this.deleteIds = inserted.map((r) => r.id);
    }
    // Last: they go out with the COMMIT (src/db/client.ts). Only their count is read, after it, so
    // that fire() wakes the worker only for rows written.
    for (const { userIds, message } of this.pushes) {
      await sendAlongCommit(tx, async () => {
        this.pushRows += await insertPushRows(tx, userIds, message);
      });
    }
  }

  /** After commit: sockets now, and the workers woken for the rows persist() wrote. */
  fire(deps: Pick<Deps, 'realtime' | 'chatLists' | 'pushWorker' | 'objectDeleter' | 'activity'>): void {
    // Before the events: a client that reacts to one by asking GET /chats must not get a stale
    // answer (src/chats/list-cache.ts).
    if (this.staleLists.size > 0) deps.chatLists.invalidate(this.staleLists);
    for (const e of this.events) {
      deps.realtime.notify(e.userIds, e.event, e.payload, { exceptSocket: e.exceptSocket });
    }
    for (const chatId of this.activityChats) deps.activity.schedule(chatId);
    if (this.pushRows > 0) deps.pushWorker.wake();
    if (this.deleteIds.length > 0) deps.objectDeleter.deleteNow(this.deleteIds);
  }
}

/**
 * PostgreSQL aborts one of two transactions that wait on each other (40P01) or, under stricter
 * isolation, one that read what another changed (40001): nothing was written, so the whole work
 * runs again rather than the request failing.
 */
const RETRYABLE = new Set(['40P01', '40001']);
/** Runs of the work at most, the first included. */
const TRANSACTION_ATTEMPTS = 3;

/**
 * Runs `work` in one transaction; its effects fire after commit and never after a rollback. A
 * deadlock or serialization failure runs it again (with new effects), up to TRANSACTION_ATTEMPTS
 * times: `work` must do nothing outside the transaction but collect effects.
 */
export async function transaction<T>(
  deps: Pick<Deps, 'database' | 'realtime' | 'chatLists' | 'pushWorker' | 'objectDeleter' | 'activity'>,
  work: (tx: Db, effects: Effects) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const effects = new Effects();
    let result: T;
    try {
      result = await deps.database.db.transaction(async (tx) => {
        const value = await work(tx as unknown as Db, effects);
        await effects.persist(tx as unknown as Db);
        return value;
      });
    } catch (error) {
      if (attempt < TRANSACTION_ATTEMPTS && RETRYABLE.has(pgErrorCode(error) ?? '')) continue;
      throw error;
    }
    effects.fire(deps);
    return result;
  }
}
