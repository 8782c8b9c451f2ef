// The member ids of large chats, kept in memory under the chat's members_version (src/db/schema.ts),
// which the database moves with every change of the chat's participants rows. A message into a
// chat of 1,000 otherwise reads 1,000 participants rows for its audience: ~2 ms of PostgreSQL,
// since the rows' pages are rarely all-visible (their activity copies are rewritten every second
// the chat is busy), and a 27 kB answer to parse (bench P4).
import { rows, sql, type Db } from '../db/client.js';

/** How many chats' member ids a node keeps (the least recently used go first). */
export const MEMBER_CACHE_CHATS = 1_000;

export class ChatMembers {
  private readonly chats = new Map<string, { version: number; ids: string[] }>();
  /** Reads from the database so far: one per chat and membership version while it stays cached. */
  reads = 0;

  constructor(private readonly capacity = MEMBER_CACHE_CHATS) {}

  /**
   * The chat's participants' user ids at `version`, which the caller read from the chat row it
   * holds locked in `tx` (FOR UPDATE): no membership change can commit until `tx` ends (the
   * trigger that moves the version waits for the lock), so a read here, in a statement after the
   * lock, sees exactly the members of that version. Never cache from the locking statement itself:
   * its snapshot may predate a change it waited for.
   */
  async of(tx: Db, chatId: string, version: number): Promise<string[]> {
    const cached = this.chats.get(chatId);
    if (cached && cached.version === version) {
      this.chats.delete(chatId); // most recently used last
      this.chats.set(chatId, cached);
      return cached.ids;
    }
    this.reads++;
    const [row] = await rows<{ ids: string[] }>(
      tx,
      sql`select coalesce(json_agg(user_id), '[]'::json) as ids from participants where chat_id = ${chatId}`,
    );
    this.chats.delete(chatId);
    this.chats.set(chatId, { version, ids: row.ids });
    if (this.chats.size > this.capacity) this.chats.delete(this.chats.keys().next().value!);
    return row.ids;
  }

  get size(): number {
    return this.chats.size;
  }
}
