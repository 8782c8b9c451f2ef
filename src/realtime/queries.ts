import { rows, sql, type Db } from '../db/client.js';
import type { ChatMembers } from '../messages/members.js';

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

/**
 * The other participants of a chat, or null when the user is not one of them. From the node's
 * member cache (src/messages/members.ts): a typing event in a group of 1,000 would otherwise read
 * its 1,000 participants rows every time.
 */
export async function chatPeers(db: Db, members: ChatMembers, chatId: string, userId: string): Promise<string[] | null> {
  const ids = await members.current(db, chatId);
  if (!ids || !ids.includes(userId)) return null;
  return ids.filter((id) => id !== userId);
}
