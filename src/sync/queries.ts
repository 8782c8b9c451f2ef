// SQL of GET /sync (catching up after a disconnect). Every statement reads the viewer's rows
// through an index: participants_user_activity_idx (the viewer's chats), chats by primary key,
// messages_chat_updated_idx (chat_id, updated_at) for the message changes, chat_removals_user_at_idx.
import { one, rows, sql, textArray, type Db } from '../db/client.js';
import type { Message } from '../messages/message.js';

/**
 * The point in time up to which one sync answer is complete: the earliest of now and the start of
 * every transaction still open on the database, truncated to the millisecond.
 *
 * A write stamps its rows (updated_at, last_read_at, removed_at ...) with its transaction's now()
 * or a later clock_timestamp(), so a transaction that started before this sync but commits after
 * its snapshot writes timestamps older than the sync's own now(); taking now() alone as the next
 * `since` would lose those rows for good. Every transaction not yet visible to the snapshot that is
 * taken after this statement is either open now (listed in pg_stat_activity: the cursor is at or
 * before its start) or starts later (its timestamps are later than this statement). Stored
 * timestamps are rounded to milliseconds (timestamptz(3)), never below the truncated cursor, and
 * the change queries compare with `>=`: an answer may repeat a change (clients apply them
 * idempotently), never miss one. PGlite runs one transaction at a time, so there it is now().
 *
 * Must run as its own statement BEFORE the snapshot of the answer is taken (pg_stat_activity is
 * read when the statement runs, not as of a snapshot). It sees the xact_start of sessions of its
 * own role (every node connects with the same one); a stuck open transaction holds the cursor
 * back, which costs repeats, never losses (README "Catching up after a disconnect").
 */
export async function syncCursor(db: Db): Promise<string> {
  const row = await one<{ cursor: string }>(
    db,
    sql`select iso(date_trunc('milliseconds', least(now(), (
          select min(a.xact_start) from pg_stat_activity a
          where a.datname = current_database() and a.backend_type = 'client backend'
            and a.xact_start is not null)))) as cursor`,
  );
  return row!.cursor;
}

/**
 * Runs the reads of one answer in one REPEATABLE READ, READ ONLY transaction: one snapshot, so
 * the chats, their messages and the removals agree with each other.
 */
export function inSnapshot<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction((tx) => work(tx as unknown as Db), { isolationLevel: 'repeatable read', accessMode: 'read only' });
}

export interface ChangedChat {
  chat: string;
  /** The earliest change of this chat at or after `since` (the order of the answer and its cursor). */
  firstChangeAt: string;
  lastReadAt: string;
  /** The viewer's own lastReadAt moved at or after `since` (a read marker to send). */
  readChanged: boolean;
}

/**
 * The viewer's chats that changed at or after `since`, earliest change first, at most `limit`.
 * A chat changed when, at or after `since`: its activity moved (participants.activity_at), the
 * chat itself changed (chats.updated_at: PUT, membership, roles), the viewer's own participant row
 * changed (lastReadAt, joinedAt), or one of its messages was created, edited or deleted
 * (messages.updated_at: an edit of an old message or the delete of the last one moves neither
 * activity nor updated_at). Each chat costs one primary-key read of chats and one probe of
 * messages_chat_updated_idx; the viewer's participant rows come from
 * participants_user_activity_idx (user_id prefix).
 */
export async function changedChats(db: Db, viewerId: string, since: string, limit: number): Promise<ChangedChat[]> {
  return rows<ChangedChat>(
    db,
    sql`select p.chat_id as chat, iso(x.first_change) as "firstChangeAt", iso(p.last_read_at) as "lastReadAt",
               p.last_read_at >= ${since}::timestamptz as "readChanged"
        from participants p
        join chats c on c.id = p.chat_id
        cross join lateral (select least(
            case when p.activity_at >= ${since}::timestamptz then p.activity_at end,
            case when c.updated_at >= ${since}::timestamptz then c.updated_at end,
            case when p.last_read_at >= ${since}::timestamptz then p.last_read_at end,
            case when p.joined_at >= ${since}::timestamptz then p.joined_at end,
            (select min(m.updated_at) from messages m
             where m.chat_id = p.chat_id and m.updated_at >= ${since}::timestamptz)) as first_change) x
        where p.user_id = ${viewerId} and x.first_change is not null
        order by x.first_change, p.chat_id
        limit ${limit}`,
  );
}

/** A message as GET /sync shows it: message_json, so a deleted one carries deletedAt. */
export type SyncMessage = Message & { deletedAt?: string };

export interface ChatMessages {
  chat: string;
  messages: SyncMessage[];
  hasMore: boolean;
}

/**
 * For each of these chats of the viewer, its messages created, edited or deleted at or after
 * `since`: the `limit` most recently changed ones, shown newest first, and whether there were
 * more. One statement for all chats: a LATERAL per chat reads messages_chat_updated_idx backwards
 * and stops after limit + 1 rows. Chats without such messages are left out. The participants
 * join keeps it to chats the viewer is in (ids are text like the text[] parameter, so the index
 * takes them as its condition instead of filtering every chat of the viewer).
 */
export async function changedMessages(
  db: Db,
  viewerId: string,
  chatIds: string[],
  since: string,
  limit: number,
): Promise<ChatMessages[]> {
  if (chatIds.length === 0) return [];
  return rows<ChatMessages>(
    db,
    sql`select p.chat_id as chat,
               coalesce(jsonb_agg(message_json(x.msg) order by x.at desc, x.id desc) filter (where x.n <= ${limit}),
                        '[]'::jsonb) as messages,
               count(*) > ${limit} as "hasMore"
        from participants p
        cross join lateral (
          select y.msg, y.at, y.id, row_number() over (order by y.updated_at desc) as n
          from (select m as msg, m.at, m.id, m.updated_at from messages m
                where m.chat_id = p.chat_id and m.updated_at >= ${since}::timestamptz
                order by m.updated_at desc
                limit ${limit + 1}) y) x
        where p.user_id = ${viewerId} and p.chat_id = any(${textArray(chatIds)})
        group by p.chat_id
        order by p.chat_id`,
  );
}

export interface RemovedChat {
  chat: string;
  removedAt: string;
}

/**
 * Chats the viewer stopped seeing at or after `since` (left, removed, deleted: chat_removals,
 * written by src/participants/ and src/chats/ and cleared when the user joins again), earliest
 * first, at most `limit`.
 */
export function removedChats(db: Db, viewerId: string, since: string, limit: number): Promise<RemovedChat[]> {
  return rows<RemovedChat>(
    db,
    sql`select chat_id as chat, iso(removed_at) as "removedAt" from chat_removals
        where user_id = ${viewerId} and removed_at >= ${since}::timestamptz
        order by removed_at, chat_id
        limit ${limit}`,
  );
}
