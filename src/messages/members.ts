// The member ids of large chats, kept in memory under the chat's members_version (src/db/schema.ts),
// which the database moves with every change of the chat's participants rows. A message into a
// chat of 1,000 otherwise reads 1,000 participants rows for its audience: ~2 ms of PostgreSQL,
// since the rows' pages are rarely all-visible (their activity copies are rewritten every second
// the chat is busy), and a 27 kB answer to parse (bench P4).
import { rows, sql, type Db } from '../db/client.js';
import { participantUserIds } from './queries.js';

/**
 * How many member ids a node keeps, all chats together (the least recently used chats go first):
 * ~50 MB of heap at most (measured: 48 MB for 1,000 chats of 1,000). A chat larger than that
 * alone is read every time.
 */
export const MEMBER_CACHE_IDS = 1_000_000;

export class ChatMembers {
  private readonly chats = new Map<string, { version: number; ids: string[] }>();
  private ids = 0;
  /** Reads from the database so far: one per chat and membership version while it stays cached. */
  reads = 0;

  constructor(private readonly capacity = MEMBER_CACHE_IDS) {}

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
      this.keep(chatId, version, cached.ids); // most recently used last
      return cached.ids;
    }
    this.reads++;
    const ids = await participantUserIds(tx, chatId);
    this.keep(chatId, version, ids);
    return ids;
  }

  /**
   * The chat's member ids now, with no lock held (the typing relay), or null when there is no such
   * chat: its version, and its ids when the cached ones are not of that version, in one statement,
   * so both come from one snapshot.
   */
  async current(db: Db, chatId: string): Promise<string[] | null> {
    const cached = this.chats.get(chatId);
    const [row] = await rows<{ version: number; ids: string[] | null }>(
      db,
      sql`select c.members_version as version,
            case when c.members_version = ${cached?.version ?? -1} then null
                 else (select coalesce(json_agg(p.user_id), '[]'::json) from participants p where p.chat_id = c.id)
            end as ids
          from chats c where c.id = ${chatId}`,
    );
    if (!row) return null;
    if (row.ids === null) {
      this.keep(chatId, cached!.version, cached!.ids); // most recently used last
      return cached!.ids;
    }
    this.reads++;
    this.keep(chatId, row.version, row.ids);
    return row.ids;
  }

  private keep(chatId: string, version: number, ids: string[]): void {
    this.forget(chatId);
    if (ids.length > this.capacity) return;
    this.chats.set(chatId, { version, ids });
    this.ids += ids.length;
    while (this.ids > this.capacity) this.forget(this.chats.keys().next().value!);
  }

  private forget(chatId: string): void {
    const entry = this.chats.get(chatId);
    if (!entry) return;
    this.chats.delete(chatId);
    this.ids -= entry.ids.length;
  }

  get size(): number {
    return this.chats.size;
  }
}
