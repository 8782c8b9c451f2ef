// SQL of join requests (restricted group chats).
import { one, rows, sql, type Db } from '../db/client.js';

export interface JoinRequest {
  _id: string;
  user: string;
  chat: string;
  status: 'pending' | 'accepted' | 'rejected';
  createdAt: string;
}

const requestJson = sql`jsonb_build_object('_id', jr.id, 'user', jr.user_id, 'chat', jr.chat_id,
  'status', jr.status, 'createdAt', iso(jr.created_at))`;

/** The user's pending request of the chat (join_requests_pending_key), if any. */
export async function hasPendingRequest(db: Db, chatId: string, userId: string): Promise<boolean> {
  const row = await one(
    db,
    sql`select 1 from join_requests where chat_id = ${chatId} and user_id = ${userId} and status = 'pending'`,
  );
  return row !== undefined;
}

/** Raises 23505 (join_requests_pending_key) when the user has a pending request already. */
export async function insertRequest(tx: Db, request: { id: string; chatId: string; userId: string }): Promise<JoinRequest> {
  const row = await one<{ request: JoinRequest }>(
    tx,
    sql`insert into join_requests as jr (id, chat_id, user_id) values (${request.id}, ${request.chatId}, ${request.userId})
        returning ${requestJson} as request`,
  );
  return row!.request;
}

/** The request of this chat, locked until the transaction ends. */
export async function findRequest(tx: Db, chatId: string, requestId: string): Promise<JoinRequest | undefined> {
  const row = await one<{ request: JoinRequest }>(
    tx,
    sql`select ${requestJson} as request from join_requests jr
        where jr.id = ${requestId} and jr.chat_id = ${chatId} for update`,
  );
  return row?.request;
}

export async function setRequestStatus(tx: Db, requestId: string, status: 'accepted' | 'rejected'): Promise<JoinRequest> {
  const row = await one<{ request: JoinRequest }>(
    tx,
    sql`update join_requests jr set status = ${status}, updated_at = now() where jr.id = ${requestId}
        returning ${requestJson} as request`,
  );
  return row!.request;
}

/** The chat's admins (participants_chat_admin_idx). */
export async function adminUserIds(db: Db, chatId: string): Promise<string[]> {
  const found = await rows<{ userId: string }>(
    db,
    sql`select user_id as "userId" from participants where chat_id = ${chatId} and is_admin`,
  );
  return found.map((r) => r.userId);
}
