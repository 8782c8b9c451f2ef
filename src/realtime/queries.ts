import { rows, sql, type Db } from '../db/client.js';

/** Users who share at least one chat with this user (they see its presence). */
export async function contactsOf(db: Db, userId: string): Promise<string[]> {
  const result = await rows<{ user_id: string }>(
    db,
    sql`select distinct other.user_id from participants mine
        join participants other on other.chat_id = mine.chat_id and other.user_id <> mine.user_id
        where mine.user_id = ${userId} limit 20000`,
  );
  return result.map((r) => r.user_id);
}

/** The other participants of a chat, or null when the user is not one of them. */
export async function chatPeers(db: Db, chatId: string, userId: string): Promise<string[] | null> {
  const result = await rows<{ user_id: string }>(
    db,
    sql`select user_id from participants where chat_id = ${chatId}
        and exists (select 1 from participants where chat_id = ${chatId} and user_id = ${userId})`,
  );
  if (result.length === 0) return null;
  return result.map((r) => r.user_id).filter((id) => id !== userId);
}
