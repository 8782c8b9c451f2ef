// The chat list cache (bench/RESULTS.md P1): the final JSON text of GET /chats answers, kept in
// this process per user and per query, so a repeated GET /chats costs no database or Redis round
// trip. Correctness rests on invalidation, not on expiry:
// - every socket event to a user drops that user's entries (src/realtime/server.ts notify): every
//   change a client can see in its list comes with an event to it;
// - except a message-created, which a cached first page keeps, to be patched when next asked for
//   into exactly what the statement would answer (src/chats/list-patch.ts): the chat moves to the
//   top with its new lastMessage, unread and sender's read mark. What a page cannot tell drops it;
// - presence changes (the answer shows isOnline) mark the lists of the user and of their contacts
//   for a presence read from memory when next asked for (read again in full when the node has no
//   such memory);
// - writes that change lists silently say so through effects.staleChatLists (src/shared/effects.ts);
// - with Redis, the other nodes drop (or patch) a user's lists when the socket adapter hands them
//   an event to the user, before their sockets get it; invalidations without an event are
//   published (src/realtime/redis.ts).
// The TTL only bounds the damage of an invalidation lost between nodes.

import type { LastMessage } from './view.js';

/** Events that change nothing a chat list shows: they drop no cached list anywhere. */
export const LIST_NEUTRAL_EVENTS: ReadonlySet<string> = new Set(['typing']);

/** What every part of the service uses to drop users' cached chat lists. */
export interface ChatListInvalidation {
  /** On every node. */
  invalidate(userIds: Iterable<string>): void;
  /**
   * On every node: these users' own isOnline changed, with no event to them (their lists show it
   * too). Their lists read isOnline again when next asked for.
   */
  presenceChanged(userIds: Iterable<string>): void;
  /**
   * On this node only: for a change that sends these users a socket event, which carries the
   * invalidation to the other nodes (src/realtime/redis.ts listsHearRemoteEvents).
   */
  drop(userIds: Iterable<string>): void;
  /**
   * On this node only: `event` with `payload` is going to these users' sockets (from this node,
   * or from another one through the socket adapter). A message-created is queued on their cached
   * first pages as a patch, when they can take it; a presence marks their lists for a presence
   * read; any other event drops their lists.
   */
  heard(userIds: Iterable<string>, event: string, payload: unknown): void;
}

/** A message-created event as the cache patches a list with it. */
export interface PostedMessage {
  chat: string;
  id: string;
  sender: string;
  /** The message's `at` in ms: timestamps are stored to the millisecond (drizzle/0000_init.sql). */
  at: number;
  /** The event's message, the chat's lastMessage from now on (message_json, the same shape). */
  message: LastMessage;
}

/** The message of a message-created payload ({message}), or null when it is not one. */
export function postedMessageOf(payload: unknown): PostedMessage | null {
  const message = (payload as { message?: any } | null)?.message;
  if (typeof message !== 'object' || message === null) return null;
  const at = typeof message.at === 'string' ? Date.parse(message.at) : NaN;
  const sender = message.user?._id;
  if (typeof message._id !== 'string' || typeof message.chat !== 'string' || typeof sender !== 'string' || Number.isNaN(at)) {
    return null;
  }
  return { chat: message.chat, id: message._id, sender, at, message };
}

/** The GET /chats query the cache is keyed on (search is never cached). */
export interface ChatListQuery {
  limit: number;
  page: number;
  search?: string;
  group?: boolean;
  meetMeOnly?: boolean;
}

/** A fill in progress: stored by set() only if no invalidation of its user happened since begin. */
export interface FillToken {
  readonly userId: string;
  /** The user's record when the fill began, and its generations then. */
  readonly record: UserRecord;
  readonly generation: number;
  readonly presenceGeneration: number;
}

/**
 * The order of a cached first page: its chats' ids and order keys (the viewer's
 * participants.activity_at, in ms: timestamps are kept to the ms), as the page lists them.
 */
export interface ListOrder {
  ids: string[];
  keys: number[];
}

/** A cached answer, and what was heard since it was stored (src/chats/list-patch.ts applies it). */
export interface CachedList {
  readonly json: string;
  /** A first page's order; null for other pages, which take no message. */
  readonly order: ListOrder | null;
  /** message-created events not yet applied to `json`, in the order heard. */
  readonly pending: readonly PostedMessage[];
  /** A presence change was heard since `json` was made: its isOnline values are to be read again. */
  readonly presence: boolean;
}

interface Entry extends CachedList {
  expiresAt: number;
  pending: PostedMessage[];
  presence: boolean;
}

/** Nothing was heard since the answer was stored: it is served as it is. */
export const isCurrent = (entry: CachedList): boolean => entry.pending.length === 0 && !entry.presence;

/** Tells the other nodes to drop these users' lists ('stale') or to read their presence again. */
export type ListBroadcast = (userIds: string[], kind: 'stale' | 'presence') => void;

/** Messages queued on one entry at most; past them the entry is dropped. */
export const PENDING_MAX = 16;

/** What is kept per user: nothing once no fill runs and no entry is cached. */
export interface UserRecord {
  /** Bumped by every invalidation: fills that began under an older one are stale. */
  generation: number;
  /** Bumped by every presence change: fills that began under an older one store for a presence read. */
  presenceGeneration: number;
  /** Fills begun and not yet ended; the record outlives its entries while any is running. */
  inFlight: number;
  /** Query key → answer, least recently used first. */
  entries: Map<string, Entry>;
}

/** A user's list is asked for with very few distinct queries (first pages, the group filter). */
export const KEYS_PER_USER = 4;

export interface ChatListCacheOptions {
  /** Users kept (least recently used dropped first); 0 turns the cache off. */
  maxUsers: number;
  /** Safety bound on an entry's age. */
  ttlMs: number;
  now?: () => number;
}

export class ChatListCache implements ChatListInvalidation {
  private users = new Map<string, UserRecord>();
  private readonly maxUsers: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** False while invalidations from other nodes may be missed (Redis subscriber down). */
  private serving = true;
  /** The other nodes, when there are any (set by the Redis wiring in src/app.ts). */
  private broadcast: ListBroadcast | null = null;

  constructor(options: ChatListCacheOptions) {
    this.maxUsers = options.maxUsers;
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.maxUsers > 0 && this.serving;
  }

  /** Users with a record (cached entries or a fill running): what memory is spent on. */
  get size(): number {
    return this.users.size;
  }

  /**
   * The cache key of a query, or null when it is not cached: a non-blank search (too many
   * distinct values to be worth keeping). A blank search is no search (src/chats/service.ts).
   * meetMeOnly false and absent select the same chats.
   */
  keyOf(query: ChatListQuery): string | null {
    if (query.search !== undefined && query.search.trim() !== '') return null;
    const group = query.group === undefined ? '' : query.group ? 'g' : 'o';
    return `${query.limit}:${query.page}:${group}:${query.meetMeOnly ? 'm' : ''}`;
  }

  /** Answers patched instead of read again (src/chats/list-patch.ts), for tests and the bench. */
  patched = 0;

  /** The cached answer when nothing was heard since it was stored, or undefined. */
  get(userId: string, key: string): string | undefined {
    const entry = this.lookup(userId, key);
    return entry && isCurrent(entry) ? entry.json : undefined;
  }

  /**
   * The cached answer with what was heard since (to be patched, src/chats/list-patch.ts), or
   * undefined. Makes the user and the key the most recently used.
   */
  lookup(userId: string, key: string): CachedList | undefined {
    if (!this.enabled) return undefined;
    const record = this.users.get(userId);
    const entry = record?.entries.get(key);
    if (!record || !entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      record.entries.delete(key);
      this.forgetIfIdle(userId, record);
      return undefined;
    }
    this.users.delete(userId);
    this.users.set(userId, record);
    record.entries.delete(key);
    record.entries.set(key, entry);
    return entry;
  }

  /**
   * Call BEFORE reading what the answer is built from (database, presence). Null when the cache
   * is off; every token must be ended by set() or cancel().
   */
  beginFill(userId: string): FillToken | null {
    if (!this.enabled) return null;
    let record = this.users.get(userId);
    if (record) {
      this.users.delete(userId);
    } else {
      record = { generation: 0, presenceGeneration: 0, inFlight: 0, entries: new Map() };
    }
    this.users.set(userId, record);
    record.inFlight++;
    this.evictOverflow();
    return { userId, record, generation: record.generation, presenceGeneration: record.presenceGeneration };
  }

  /**
   * Ends the fill and stores its answer, unless the user was invalidated since beginFill (the
   * answer may predate the change), or the record was evicted or cleared meanwhile; after a
   * presence change since beginFill, stored for a presence read at its next use. Returns
   * whether it was stored. `order`: a first page's order (the entry then takes messages); null
   * for other pages.
   */
  set(token: FillToken | null, key: string, json: string, order: ListOrder | null = null): boolean {
    if (!token) return false;
    const { userId, record } = token;
    record.inFlight--;
    const current = this.users.get(userId) === record;
    if (!current || record.generation !== token.generation || !this.enabled) {
      if (current) this.forgetIfIdle(userId, record);
      return false;
    }
    record.entries.delete(key);
    const presence = record.presenceGeneration !== token.presenceGeneration;
    record.entries.set(key, { json, order, expiresAt: this.now() + this.ttlMs, pending: [], presence });
    if (record.entries.size > KEYS_PER_USER) record.entries.delete(record.entries.keys().next().value!);
    return true;
  }

  /** Ends a fill that produced no answer (the request failed). */
  cancel(token: FillToken | null): void {
    if (!token) return;
    token.record.inFlight--;
    if (this.users.get(token.userId) === token.record) this.forgetIfIdle(token.userId, token.record);
  }

  /** Drops these users' lists on this node at once, then tells the other nodes. */
  invalidate(userIds: Iterable<string>): void {
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return;
    this.drop(ids);
    this.broadcast?.(ids, 'stale');
  }

  presenceChanged(userIds: Iterable<string>): void {
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return;
    this.markPresence(ids);
    this.broadcast?.(ids, 'presence');
  }

  /** This node only: what an invalidation from another node does here. */
  drop(userIds: Iterable<string>): void {
    for (const userId of userIds) {
      const record = this.users.get(userId);
      if (!record) continue;
      record.generation++;
      record.entries.clear();
      this.forgetIfIdle(userId, record);
    }
  }

  heard(userIds: Iterable<string>, event: string, payload: unknown): void {
    if (LIST_NEUTRAL_EVENTS.has(event)) return;
    if (event === 'presence') return this.markPresence(userIds);
    const posted = event === 'message-created' ? postedMessageOf(payload) : null;
    if (!posted) return this.drop(userIds);
    for (const userId of userIds) {
      const record = this.users.get(userId);
      if (!record) continue;
      // A fill running now may or may not have read the message: it stores nothing.
      record.generation++;
      for (const [key, entry] of record.entries) {
        // A message of a chat in the page no newer than the chat's order key is one the entry
        // shows already (read after its commit, the event arriving later), or one heard out of
        // order: the entry cannot tell.
        const index = entry.order?.ids.indexOf(posted.chat) ?? -1;
        const shown = index >= 0 && posted.at <= entry.order!.keys[index];
        if (entry.order && !shown && entry.pending.length < PENDING_MAX) entry.pending.push(posted);
        else record.entries.delete(key);
      }
      this.forgetIfIdle(userId, record);
    }
  }

  /**
   * This node only: these users, or someone they share a chat with, went online or offline. The
   * presence store has changed already (src/realtime/presence-redis.ts orders it before the
   * event), so reading isOnline again when an entry is next asked for shows it. A fill running
   * now may have read it before: it stores its answer for such a read too.
   */
  markPresence(userIds: Iterable<string>): void {
    for (const userId of userIds) {
      const record = this.users.get(userId);
      if (!record) continue;
      record.presenceGeneration++;
      for (const entry of record.entries.values()) entry.presence = true;
    }
  }

  /** Drops everything; fills running now will not store (their records are gone). */
  clear(): void {
    this.users = new Map();
  }

  /** Tells the other nodes of every invalidate(); set once, by the Redis wiring. */
  onInvalidate(broadcast: ListBroadcast): void {
    this.broadcast = broadcast;
  }

  /**
   * Stops serving and storing, and drops everything: invalidations from other nodes may be
   * missed from now on (their channel is down).
   */
  suspend(): void {
    this.serving = false;
    this.clear();
  }

  /** Serves again, from empty: whatever was missed while suspended cannot be in the cache. */
  resume(): void {
    this.clear();
    this.serving = true;
  }

  private forgetIfIdle(userId: string, record: UserRecord): void {
    if (record.inFlight === 0 && record.entries.size === 0) this.users.delete(userId);
  }

  private evictOverflow(): void {
    while (this.users.size > this.maxUsers) {
      // Map order is recency order: the first key is the least recently used user.
      this.users.delete(this.users.keys().next().value!);
    }
  }
}
