// SQL of messages, message files and uploads. Messages leave the database through message_json()
// (drizzle/0001_sql_functions.sql), the spec's lastMessage shape.
import type { SQL } from 'drizzle-orm';
import { compiledSql, one, rows, sql, textArray, type Db } from '../db/client.js';
import { jsonObject, userBriefText } from '../db/json.js';
import { messageFiles } from '../db/schema.js';
import type { MediaType } from './media.js';
import type { FileItem, Message } from './message.js';

export interface PostingAccess {
  isGroup: boolean;
  name: string | null;
  allowPublicPost: boolean;
  /** One-to-one: either party has blocked the other. */
  blocked: boolean;
  participant: { isAdmin: boolean; status: 'pending' | 'accepted' | 'rejected' | null } | null;
  /**
   * Every participant's user id (the sender's too): the message's audience. Null for a chat of
   * more than `inlineMax` participants: members.ts reads them, by `membersVersion`.
   */
  memberIds: string[] | null;
  membersVersion: number;
}

/**
 * Everything the posting rules need, and the audience of a chat of up to `inlineMax`
 * participants, in one round trip, with the chat row locked until the transaction ends: messages
 * of one chat are written one after the other, so their `at` follows commit order and
 * last_message_id always names the newest. A larger chat's audience comes from ChatMembers
 * (members.ts) by the version read here.
 */
export function postingAccess(tx: Db, chatId: string, userId: string, inlineMax: number): Promise<PostingAccess | undefined> {
  return one<PostingAccess>(
    tx,
    sql`select c.is_group as "isGroup", c.name, c.allow_public_post as "allowPublicPost",
          (not c.is_group and exists (
            select 1 from blocks b
            where (b.blocker_id = c.creator_id and b.blocked_id = c.user_id)
               or (b.blocker_id = c.user_id and b.blocked_id = c.creator_id))) as blocked,
          case when p.id is null then null
               else json_build_object('isAdmin', p.is_admin, 'status', p.status) end as participant,
          case when c.participants_count <= ${inlineMax}
               then (select coalesce(json_agg(m.user_id), '[]'::json) from participants m where m.chat_id = c.id)
          end as "memberIds",
          c.members_version as "membersVersion"
        from chats c
        left join participants p on p.chat_id = c.id and p.user_id = ${userId}
        where c.id = ${chatId}
        for update of c`,
  );
}

/**
 * Writes a message in one statement: the row (at the database clock, after the chat lock), the
 * chat's last message, the sender's read mark, and the participants' activity copies (the chat
 * list order, src/db/schema.ts) when the chat has at most `inlineMax` participants. A larger chat
 * gets the sender's copy only and is flagged activity_pending; refreshPendingActivity rewrites
 * the others after the commit (src/messages/activity.ts).
 * One UPDATE of participants does both the read mark and the activity: a statement may not
 * update a row twice. `message` is the new row as message_json renders it (liveMessageText); it
 * cannot see files written after this statement, so a message with files is read again once they
 * are in.
 * `members`: the chat's participants as the caller read them under the chat lock. Over
 * `inlineMax`, the statement reaches the sender's row alone through (chat_id, user_id): the
 * general form's condition (the sender, or every copy when the chat is small) has PostgreSQL
 * visit every participant of the chat, 1,000 rows for a message into a group of 1,000 (bench P4).
 */
export async function insertMessage(
  tx: Db,
  message: { id: string; chatId: string; userId: string; text: string | null },
  members: number,
  inlineMax: number,
): Promise<{ at: string; activityPending: boolean; message: Message }> {
  const m = sql`m as (
          insert into messages (id, chat_id, user_id, text, at, updated_at)
          values (${message.id}, ${message.chatId}, ${message.userId}, ${message.text}, clock_timestamp(), clock_timestamp())
          returning *)`;
  const row = await one<{ at: string; activityPending: boolean; message: Message }>(
    tx,
    members > inlineMax
      ? // No chat of this size is written without the flag: activity_pending is set whatever the count says.
        sql`with ${m},
        c as (
          update chats set last_message_id = ${message.id}, last_message_at = m.at, activity_pending = true
          from m
          where chats.id = ${message.chatId} and (chats.last_message_at is null or chats.last_message_at <= m.at)
          returning coalesce(chats.last_message_at, chats.updated_at) as activity),
        p as (
          update participants p set last_read_at = greatest(p.last_read_at, m.at), activity_at = coalesce(c.activity, p.activity_at)
          from m left join c on true
          where p.chat_id = ${message.chatId} and p.user_id = ${message.userId})
        select iso(m.at) as at, exists (select 1 from c) as "activityPending", (${liveMessageText})::json as message
        from m`
      : sql`with ${m},
        c as (
          update chats set last_message_id = ${message.id}, last_message_at = m.at,
                 activity_pending = chats.participants_count > ${inlineMax}
          from m
          where chats.id = ${message.chatId} and (chats.last_message_at is null or chats.last_message_at <= m.at)
          returning chats.activity_pending as pending, coalesce(chats.last_message_at, chats.updated_at) as activity),
        p as (
          update participants p set
            last_read_at = case when p.user_id = ${message.userId} then greatest(p.last_read_at, m.at) else p.last_read_at end,
            activity_at = case when c.pending is false or p.user_id = ${message.userId} then coalesce(c.activity, p.activity_at)
                               else p.activity_at end
          from m left join c on true
          where p.chat_id = ${message.chatId}
            and (p.user_id = ${message.userId} or (c.pending is false and p.activity_at is distinct from c.activity)))
        select iso(m.at) as at, coalesce((select pending from c), false) as "activityPending",
               (${liveMessageText})::json as message
        from m`,
  );
  return row!;
}

/** How refreshPendingActivity splits a large chat's rewrite (src/messages/activity.ts). */
export interface ActivityBatches {
  /** Participants rewritten per statement. */
  size: number;
  /** Awaited between two statements. */
  between(): Promise<void>;
}

/**
 * After the commit of messages into a large chat: participants.activity_at = the chat's activity
 * for every participant, `batches.size` participants per statement in user_id order (the
 * (chat_id, user_id) key), each statement its own transaction. A group of 1,000 is ten short
 * statements instead of one of ~45 ms: row locks are held for one batch at most (a member's own
 * message waits on them), and the pauses between batches leave the cores to the requests.
 * The chat row is not locked while the rows are rewritten: messages keep going into the chat.
 * activity_pending is cleared last, only if every copy equals the chat's activity at that moment:
 * a message (or its deletion) between two batches leaves the flag for its own rewrite.
 * Returns the participants whose copy moved (none when nothing was pending).
 */
export async function refreshPendingActivity(db: Db, chatId: string, batches: ActivityBatches): Promise<string[]> {
  const moved: string[] = [];
  // '' sorts before every id: the first batch starts at the chat's first participant.
  for (let after = ''; ; await batches.between()) {
    const [batch] = await rows<{ keys: number; last: string | null; moved: string[] }>(
      db,
      sql`with c as (
            select coalesce(last_message_at, updated_at) as activity from chats
            where id = ${chatId} and activity_pending),
          keys as (
            select user_id from participants
            where chat_id = ${chatId} and user_id > ${after}
            order by user_id limit ${batches.size}),
          moved as (
            update participants p set activity_at = c.activity from c, keys
            where p.chat_id = ${chatId} and p.user_id = keys.user_id and p.activity_at is distinct from c.activity
            returning p.user_id)
          select (select count(*) from keys)::int as keys, (select max(user_id) from keys) as last,
                 array(select user_id from moved) as moved
          from c`,
    );
    // No row: the flag is cleared (another node's rewrite finished it).
    if (!batch) return moved;
    moved.push(...batch.moved);
    if (batch.keys < batches.size) break;
    after = batch.last!;
  }
  await db.execute(sql`update chats c set activity_pending = false
    where c.id = ${chatId} and c.activity_pending
      and not exists (
        select 1 from participants p
        where p.chat_id = c.id and p.activity_at is distinct from coalesce(c.last_message_at, c.updated_at))`);
  return moved;
}

/** Chats whose activity copies are still to be rewritten (a node died between commit and refresh). */
export async function pendingActivityChats(db: Db, limit: number): Promise<string[]> {
  const result = await rows<{ id: string }>(
    db,
    sql`select id from chats where activity_pending order by id limit ${limit}`,
  );
  return result.map((r) => r.id);
}

export interface NewMessageFile {
  id: string;
  url: string;
  cover: string | null;
  meta: Record<string, unknown> | null;
  tag: string;
  mediaType: MediaType;
  storageKeys: string[];
}

export async function insertMessageFiles(
  tx: Db,
  message: { id: string; chatId: string; userId: string; at: string },
  files: NewMessageFile[],
): Promise<void> {
  if (files.length === 0) return;
  await tx.insert(messageFiles).values(
    files.map((file, position) => ({
      id: file.id,
      messageId: message.id,
      chatId: message.chatId,
      userId: message.userId,
      at: new Date(message.at),
      position,
      url: file.url,
      cover: file.cover,
      meta: file.meta,
      tag: file.tag,
      mediaType: file.mediaType,
      storageKeys: file.storageKeys,
    })),
  );
}

/**
 * After a write that may have moved the chat's activity (its last message, or updated_at of a chat
 * without messages): participants.activity_at = coalesce(chats.last_message_at, chats.updated_at)
 * for every participant whose copy differs (the chat list index, src/db/schema.ts), in this
 * statement for a chat of at most `inlineMax` participants. A larger one is flagged
 * activity_pending instead, and `pending` says to schedule its rewrite after the commit
 * (effects.refreshActivity, src/messages/activity.ts), as a message into it does. Returns every
 * participant's user id.
 */
export async function refreshActivity(
  tx: Db,
  chatId: string,
  inlineMax: number,
): Promise<{ userIds: string[]; pending: boolean }> {
  const result = await rows<{ userId: string; pending: boolean }>(
    tx,
    sql`with c as (
          select id, coalesce(last_message_at, updated_at) as activity,
                 activity_pending or participants_count > ${inlineMax} as pending
          from chats where id = ${chatId}),
        flag as (
          update chats set activity_pending = true from c
          where chats.id = c.id and c.pending and not chats.activity_pending),
        moved as (
          update participants p set activity_at = c.activity from c
          where p.chat_id = c.id and not c.pending and p.activity_at is distinct from c.activity)
        select p.user_id as "userId", c.pending from participants p join c on p.chat_id = c.id`,
  );
  return { userIds: result.map((r) => r.userId), pending: result[0]?.pending ?? false };
}

export async function participantUserIds(db: Db, chatId: string): Promise<string[]> {
  const result = await rows<{ userId: string }>(db, sql`select user_id as "userId" from participants where chat_id = ${chatId}`);
  return result.map((r) => r.userId);
}

/** A live (not deleted) message as message_json renders it. */
export async function messageJson(db: Db, messageId: string): Promise<Message> {
  const row = await one<{ message: Message }>(db, sql`select (${liveMessageText})::json as message from messages m where m.id = ${messageId}`);
  return row!.message;
}

/**
 * message_json() (drizzle/0001_sql_functions.sql) of the live messages row `m` as JSON text, in
 * jsonb's key order; keep the two in step. Written out here because message_json has sub-selects:
 * PostgreSQL cannot inline it and ran it as a separate SQL-function call per chat in the list and
 * per message in a page (bench/RESULTS.md "Query plans"), and plans its body again at every
 * execution of the statement that calls it: 0.4 ms of the 1.2 ms message write at bench scale
 * (pgbench, prepared). Written in the statement, it is planned with the rest, once per prepared
 * statement. deletedAt is never set on a live message. Rendered to SQL text once (compiledSql).
 */
export const liveMessageText = compiledSql(0, () =>
  jsonObject([
    ['at', sql`to_json(iso(m.at))::text`],
    ['_id', sql`to_json(m.id)::text`],
    ['chat', sql`to_json(m.chat_id)::text`],
    ['text', sql`to_json(m.text)::text`],
    ['user', sql`coalesce((select ${userBriefText('mu')} from users mu where mu.id = m.user_id), 'null')`],
    [
      'files',
      sql`coalesce((
        select '[' || string_agg(${jsonObject([
          ['_id', sql`to_json(f.id)::text`],
          ['tag', sql`to_json(f.tag)::text`],
          ['url', sql`to_json(f.url)::text`],
          // Kept exactly as the sender gave it, its inner nulls too.
          ['meta', sql`f.meta::text`],
          ['cover', sql`to_json(f.cover)::text`],
        ])}, ',' order by f.position) || ']'
        from message_files f where f.message_id = m.id), '[]')`,
    ],
    ['editedAt', sql`to_json(iso(m.edited_at))::text`],
  ]),
)();

export interface MessageRow {
  id: string;
  userId: string;
  at: string;
  deleted: boolean;
  hasFiles: boolean;
}

/** A message of this chat (deleted ones too), optionally locked for the rest of the transaction. */
export function findMessage(db: Db, chatId: string, messageId: string, forUpdate = false): Promise<MessageRow | undefined> {
  return one<MessageRow>(
    db,
    sql`select m.id, m.user_id as "userId", iso(m.at) as at, m.deleted_at is not null as deleted,
          exists (select 1 from message_files f where f.message_id = m.id) as "hasFiles"
        from messages m where m.id = ${messageId} and m.chat_id = ${chatId}
        ${forUpdate ? sql`for update of m` : sql``}`,
  );
}

/** What GET /chats/:id/messages needs in one round trip; no row when there is no such chat. */
export interface MessagesForViewer {
  /** The viewer's participant id, null when not a participant. */
  participant: string | null;
  /** False when `before` is not a message of this chat (deleted ones are valid cursors). */
  cursorFound: boolean;
  /** The page as a JSON array text; null unless participant and cursorFound. */
  messages: string | null;
}

/**
 * GET /chats/:id/messages in one statement: whether the chat exists, whether the viewer is a
 * participant, whether the cursor `before` is a message of the chat, and the page of live messages,
 * newest first, strictly older than the cursor in (at, id) order, aggregated into one JSON array.
 * The page is a keyset range scan of messages_chat_at_live_idx; its ORDER BY spells the index's
 * `DESC NULLS LAST` (the columns are NOT NULL, so it is the same order) or PostgreSQL sorts.
 */
export function messagesForViewer(
  db: Db,
  chatId: string,
  viewerId: string,
  limit: number,
  beforeId: string | null,
): Promise<MessagesForViewer | undefined> {
  return one<MessagesForViewer>(db, messagesForViewerSql(chatId, viewerId, limit, beforeId));
}

/** The SQL of messagesForViewer, exported so that a test EXPLAINs exactly what runs. */
export function messagesForViewerSql(chatId: string, viewerId: string, limit: number, beforeId: string | null): SQL {
  const cursorFound = beforeId ? sql`cur.id is not null` : sql`true`;
  return sql`select p.id as participant, ${cursorFound} as "cursorFound",
      case when p.id is not null and ${cursorFound} then (
        select coalesce('[' || string_agg(page.message, ',' order by page.at desc, page.id desc) || ']', '[]')
        from (
          select ${liveMessageText} as message, m.at, m.id from messages m
          where m.chat_id = c.id and m.deleted_at is null
            ${beforeId ? sql`and (m.at, m.id) < (cur.at, cur.id)` : sql``}
          order by m.at desc nulls last, m.id desc nulls last
          limit ${limit}) page)
      end as messages
    from chats c
    left join participants p on p.chat_id = c.id and p.user_id = ${viewerId}
    ${beforeId ? sql`left join messages cur on cur.id = ${beforeId} and cur.chat_id = c.id` : sql``}
    where c.id = ${chatId}`;
}

export async function editMessage(tx: Db, messageId: string, text: string | null): Promise<void> {
  await tx.execute(sql`update messages set text = ${text}, edited_at = clock_timestamp(), updated_at = clock_timestamp()
    where id = ${messageId}`);
}

export async function softDeleteMessage(tx: Db, messageId: string): Promise<void> {
  await tx.execute(sql`update messages set deleted_at = clock_timestamp(), updated_at = clock_timestamp(), text = null
    where id = ${messageId}`);
}

/** Deletes the message's file rows and returns the storage keys they held. */
export async function deleteMessageFiles(tx: Db, messageId: string): Promise<string[]> {
  const result = await rows<{ key: string }>(
    tx,
    sql`with gone as (delete from message_files where message_id = ${messageId} returning storage_keys)
        select distinct unnest(storage_keys) as key from gone`,
  );
  return result.map((r) => r.key);
}

/**
 * Of these storage keys, the ones something in the chat still uses: another message's file (the
 * same upload sent twice) or the chat's photo. Those objects must stay.
 */
export async function keysInUse(tx: Db, chatId: string, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const result = await rows<{ key: string }>(
    tx,
    sql`select k.key from unnest(${textArray(keys)}) as k(key)
        where exists (select 1 from message_files f where f.chat_id = ${chatId} and k.key = any(f.storage_keys))
           or exists (select 1 from chats c where c.id = ${chatId} and c.photo_key = k.key)`,
  );
  return new Set(result.map((r) => r.key));
}

/**
 * When the deleted message was the chat's last one, last_message moves to the newest live
 * message (or null). Returns true when it moved. The update takes the chat row lock, so a message
 * posted at the same time either lands first (and the condition no longer holds) or after.
 */
export async function moveLastMessageFrom(tx: Db, chatId: string, deletedId: string): Promise<boolean> {
  const result = await rows<{ id: string }>(
    tx,
    sql`update chats c set (last_message_id, last_message_at) = (
          select m.id, m.at from messages m
          where m.chat_id = c.id and m.deleted_at is null
          order by m.at desc nulls last, m.id desc nulls last limit 1)
        where c.id = ${chatId} and c.last_message_id = ${deletedId}
        returning c.id`,
  );
  return result.length > 0;
}

/**
 * A page of the chat's files of one media type and tag, newest message first and a message's
 * files in the order sent (as the spec example lists them), read in the order of
 * message_files_chat_type_tag_idx (hence `desc nulls last`), and how many there are in all, in
 * one round trip.
 */
export async function listFiles(
  db: Db,
  filter: FilesFilter,
  limit: number,
  offset: number,
): Promise<{ files: FileItem[]; count: number }> {
  return (await one<{ files: FileItem[]; count: number }>(db, filesPageSql(filter, limit, offset)))!;
}

export interface FilesFilter {
  chatId: string;
  mediaType: MediaType;
  tag: string;
}

/** The SQL of listFiles, exported so that a test EXPLAINs exactly what runs. */
export function filesPageSql(filter: FilesFilter, limit: number, offset: number): SQL {
  const where = sql`f.chat_id = ${filter.chatId} and f.media_type = ${filter.mediaType} and f.tag = ${filter.tag}`;
  return sql`select
      (select count(*)::int from message_files f where ${where}) as count,
      coalesce((select jsonb_agg(page.item order by page.at desc nulls last, page.message_id desc nulls last, page.position) from (
        select f.at, f.message_id, f.position, jsonb_build_object(
            '_id', f.id, 'user', f.user_id, 'chat', f.chat_id, 'at', iso(f.at), 'message', f.message_id,
            'file', jsonb_build_object('url', f.url, '_id', f.id)
              || case when f.cover is not null then jsonb_build_object('cover', f.cover) else '{}'::jsonb end
              || case when f.meta is not null then jsonb_build_object('meta', f.meta) else '{}'::jsonb end) as item
        from message_files f where ${where}
        order by f.at desc nulls last, f.message_id desc nulls last, f.position
        limit ${limit} offset ${offset}) page), '[]'::jsonb) as files`;
}

/** Records an object to delete later, when deleting it right away failed. */
export async function recordPendingDelete(db: Db, key: string): Promise<void> {
  await db.execute(sql`insert into pending_object_deletes (key) values (${key})`);
}
