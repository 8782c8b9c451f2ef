// SQL of messages, message files and uploads. Messages leave the database through message_json()
// (drizzle/0001_sql_functions.sql), the spec's lastMessage shape.
import type { SQL } from 'drizzle-orm';
import { one, rows, sql, textArray, type Db } from '../db/client.js';
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
}

/**
 * Everything the posting rules need in one round trip, with the chat row locked until the
 * transaction ends: messages of one chat are written one after the other, so their `at` follows
 * commit order and last_message_id always names the newest.
 */
export function postingAccess(tx: Db, chatId: string, userId: string): Promise<PostingAccess | undefined> {
  return one<PostingAccess>(
    tx,
    sql`select c.is_group as "isGroup", c.name, c.allow_public_post as "allowPublicPost",
          (not c.is_group and exists (
            select 1 from blocks b
            where (b.blocker_id = c.creator_id and b.blocked_id = c.user_id)
               or (b.blocker_id = c.user_id and b.blocked_id = c.creator_id))) as blocked,
          case when p.id is null then null
               else json_build_object('isAdmin', p.is_admin, 'status', p.status) end as participant
        from chats c
        left join participants p on p.chat_id = c.id and p.user_id = ${userId}
        where c.id = ${chatId}
        for update of c`,
  );
}

/** Inserts the message at the database clock (after the chat lock) and returns its `at`. */
export async function insertMessage(
  tx: Db,
  message: { id: string; chatId: string; userId: string; text: string | null },
): Promise<string> {
  const row = await one<{ at: string }>(
    tx,
    sql`insert into messages (id, chat_id, user_id, text, at, updated_at)
        values (${message.id}, ${message.chatId}, ${message.userId}, ${message.text}, clock_timestamp(), clock_timestamp())
        returning iso(at) as at`,
  );
  return row!.at;
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

/** The chat's newest live message is now this one (never moves last_message back in time). */
export async function setLastMessage(tx: Db, chatId: string, messageId: string, at: string): Promise<void> {
  await tx.execute(sql`update chats set last_message_id = ${messageId}, last_message_at = ${at}::timestamptz
    where id = ${chatId} and (last_message_at is null or last_message_at <= ${at}::timestamptz)`);
}

/** The sender has read up to their own message. */
export async function markReadUpTo(tx: Db, chatId: string, userId: string, at: string): Promise<void> {
  await tx.execute(sql`update participants set last_read_at = greatest(last_read_at, ${at}::timestamptz)
    where chat_id = ${chatId} and user_id = ${userId}`);
}

/**
 * participants.activity_at = coalesce(chats.last_message_at, chats.updated_at) for every
 * participant of the chat (the chat list index, src/db/schema.ts). Returns the participants' user ids.
 */
export async function refreshActivity(tx: Db, chatId: string): Promise<string[]> {
  const result = await rows<{ userId: string }>(
    tx,
    sql`update participants p set activity_at = coalesce(c.last_message_at, c.updated_at)
        from chats c where c.id = ${chatId} and p.chat_id = c.id
        returning p.user_id as "userId"`,
  );
  return result.map((r) => r.userId);
}

export async function participantUserIds(db: Db, chatId: string): Promise<string[]> {
  const result = await rows<{ userId: string }>(db, sql`select user_id as "userId" from participants where chat_id = ${chatId}`);
  return result.map((r) => r.userId);
}

export async function messageJson(db: Db, messageId: string): Promise<Message> {
  const row = await one<{ message: Message }>(db, sql`select message_json(m) as message from messages m where m.id = ${messageId}`);
  return row!.message;
}

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

/**
 * A page of the chat's live messages, newest first, strictly older than `before` in (at, id)
 * order: a keyset range scan of messages_chat_at_live_idx. The ORDER BY spells the index's
 * `DESC NULLS LAST` (the columns are NOT NULL, so it is the same order) or PostgreSQL sorts.
 */
export async function listMessages(
  db: Db,
  chatId: string,
  limit: number,
  before: { at: string; id: string } | null,
): Promise<Message[]> {
  const result = await rows<{ message: Message }>(db, messagesPageSql(chatId, limit, before));
  return result.map((r) => r.message);
}

/** The SQL of listMessages, exported so that a test EXPLAINs exactly what runs. */
export function messagesPageSql(chatId: string, limit: number, before: { at: string; id: string } | null): SQL {
  return sql`select message_json(m) as message from messages m
    where m.chat_id = ${chatId} and m.deleted_at is null
      ${before ? sql`and (m.at, m.id) < (${before.at}::timestamptz, ${before.id})` : sql``}
    order by m.at desc nulls last, m.id desc nulls last
    limit ${limit}`;
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
 * A page of the chat's files of one media type and tag, newest first, read in the order of
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
      coalesce((select jsonb_agg(page.item order by page.at desc nulls last, page.id desc nulls last) from (
        select f.at, f.id, jsonb_build_object(
            '_id', f.id, 'user', f.user_id, 'chat', f.chat_id, 'at', iso(f.at), 'message', f.message_id,
            'file', jsonb_build_object('url', f.url, '_id', f.id)
              || case when f.cover is not null then jsonb_build_object('cover', f.cover) else '{}'::jsonb end
              || case when f.meta is not null then jsonb_build_object('meta', f.meta) else '{}'::jsonb end) as item
        from message_files f where ${where}
        order by f.at desc nulls last, f.id desc nulls last
        limit ${limit} offset ${offset}) page), '[]'::jsonb) as files`;
}

/** Records an object to delete later, when deleting it right away failed. */
export async function recordPendingDelete(db: Db, key: string): Promise<void> {
  await db.execute(sql`insert into pending_object_deletes (key) values (${key})`);
}
