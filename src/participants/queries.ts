import type { ParticipantDocument } from '../chats/view.js';
import { one, rows, sql, textArray, type Db } from '../db/client.js';

export interface ParticipantRow {
  id: string;
  userId: string;
  isAdmin: boolean;
  status: 'pending' | 'accepted' | 'rejected' | null;
  lastReadAt: string;
}

const participantColumns = sql`id, user_id as "userId", is_admin as "isAdmin", status, iso(last_read_at) as "lastReadAt"`;

/** rulings.md 24: `ref` is the participant's own _id or its user id (the _id wins if both match). */
export function findParticipant(db: Db, chatId: string, ref: string): Promise<ParticipantRow | undefined> {
  return one<ParticipantRow>(
    db,
    sql`select ${participantColumns} from participants
        where chat_id = ${chatId} and (id = ${ref} or user_id = ${ref})
        order by (id = ${ref}) desc limit 1`,
  );
}

export async function participantUserIds(db: Db, chatId: string): Promise<string[]> {
  const found = await rows<{ userId: string }>(db, sql`select user_id as "userId" from participants where chat_id = ${chatId}`);
  return found.map((r) => r.userId);
}

export async function countAdmins(db: Db, chatId: string): Promise<number> {
  const row = await one<{ admins: number }>(
    db,
    sql`select count(*)::int as admins from participants where chat_id = ${chatId} and is_admin`,
  );
  return row!.admins;
}

/**
 * Adds users to the chat; users already in it are skipped (unique participants_chat_user_key).
 * is_group and activity_at are copies of the chat's values; lastReadAt and joinedAt are now
 * (rulings.md 13). Returns the rows inserted, in the order of `users`.
 */
export async function insertParticipants(
  db: Db,
  chatId: string,
  users: { id: string; userId: string }[],
  status: ParticipantRow['status'],
): Promise<ParticipantRow[]> {
  if (users.length === 0) return [];
  const inserted = await rows<ParticipantRow>(
    db,
    sql`insert into participants (id, chat_id, user_id, is_admin, status, last_read_at, joined_at, is_group, activity_at)
        select n.id, c.id, n.user_id, false, ${status}, now(), now(), c.is_group, coalesce(c.last_message_at, c.updated_at)
        from unnest(${textArray(users.map((u) => u.id))}, ${textArray(users.map((u) => u.userId))}) with ordinality as n(id, user_id, position)
        join chats c on c.id = ${chatId}
        order by n.position
        on conflict (chat_id, user_id) do nothing
        returning ${participantColumns}`,
  );
  const order = new Map(users.map((u, i) => [u.userId, i]));
  return inserted.sort((a, b) => order.get(a.userId)! - order.get(b.userId)!);
}

/** Inserts one participant; a concurrent insert of the same user raises 23505 for the caller to translate. */
export async function insertParticipant(
  db: Db,
  chatId: string,
  participant: { id: string; userId: string; status: ParticipantRow['status'] },
): Promise<ParticipantRow> {
  return (await one<ParticipantRow>(
    db,
    sql`insert into participants (id, chat_id, user_id, is_admin, status, last_read_at, joined_at, is_group, activity_at)
        select ${participant.id}, c.id, ${participant.userId}, false, ${participant.status}, now(), now(),
               c.is_group, coalesce(c.last_message_at, c.updated_at)
        from chats c where c.id = ${chatId}
        returning ${participantColumns}`,
  ))!;
}

export async function deleteParticipant(db: Db, participantId: string): Promise<void> {
  await db.execute(sql`delete from participants where id = ${participantId}`);
}

export async function setAdmin(db: Db, participantId: string, isAdmin: boolean): Promise<ParticipantRow> {
  return (await one<ParticipantRow>(
    db,
    sql`update participants set is_admin = ${isAdmin} where id = ${participantId} returning ${participantColumns}`,
  ))!;
}

/**
 * After a membership or role change: the chat document changed, so updatedAt moves and
 * participants_count follows; every participant's activity_at stays
 * coalesce(last_message_at, updated_at) (src/db/schema.ts), which only moves for chats
 * without messages. A chat of more than `inlineMax` participants whose activity moved is flagged
 * activity_pending instead of rewritten here: true means to schedule the rewrite after the commit
 * (effects.refreshActivity, src/messages/activity.ts).
 */
export async function touchChat(db: Db, chatId: string, participantsDelta: number, inlineMax: number): Promise<boolean> {
  const row = await one<{ pending: boolean }>(
    db,
    sql`with chat as (
          update chats set updated_at = now(), participants_count = participants_count + ${participantsDelta},
                 activity_pending = activity_pending
                   or (last_message_at is null and participants_count + ${participantsDelta} > ${inlineMax})
          where id = ${chatId}
          returning id, coalesce(last_message_at, updated_at) as activity, activity_pending as pending),
        moved as (
          update participants p set activity_at = chat.activity from chat
          where p.chat_id = chat.id and not chat.pending and p.activity_at is distinct from chat.activity)
        select pending from chat`,
  );
  return row?.pending ?? false;
}

/** The user stopped seeing the chat (schema.ts chat_removals), so a client catching up learns of it. */
export async function recordRemoval(db: Db, userId: string, chatId: string): Promise<void> {
  await db.execute(sql`insert into chat_removals (user_id, chat_id) values (${userId}, ${chatId})
    on conflict (user_id, chat_id) do update set removed_at = now()`);
}

/** Users who (re)join see the chat again: a stale removal would contradict their chat list. */
export async function clearRemovals(db: Db, userIds: string[], chatId: string): Promise<void> {
  if (userIds.length === 0) return;
  await db.execute(sql`delete from chat_removals where chat_id = ${chatId} and user_id = any(${textArray(userIds)})`);
}

/** Of these ids, the users who blocked `userId` or were blocked by them. */
export async function blockedEitherWay(db: Db, userId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const found = await rows<{ id: string }>(
    db,
    sql`select u.id from unnest(${textArray(ids)}) with ordinality as u(id, position)
        where exists (select 1 from blocks b where (b.blocker_id = ${userId} and b.blocked_id = u.id)
                                              or (b.blocker_id = u.id and b.blocked_id = ${userId}))
        order by u.position`,
  );
  return found.map((r) => r.id);
}

/** A participant as the API shows it: `isAdmin` only for admins, `status` only in event chats. */
export function toParticipant(row: ParticipantRow): ParticipantDocument {
  return {
    user: row.userId,
    ...(row.isAdmin ? { isAdmin: true as const } : {}),
    _id: row.id,
    lastReadAt: row.lastReadAt,
    ...(row.status ? { status: row.status } : {}),
  };
}
