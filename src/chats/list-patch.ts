// A cached GET /chats answer brought up to date with what its user heard since it was stored
// (src/chats/list-cache.ts): the messages posted into their chats and the presence changes of the
// people in them. The result is what the list statement (src/chats/queries.ts listChatsQuery)
// would answer now, byte for byte; what a page cannot tell makes the patch give up (null), and the
// list is read again. Much cheaper than the statement: a chat that moved into the page from
// below is read alone, every other one comes from the cached JSON.
import type { Config } from '../config.js';
import type { Deps } from '../shared/deps.js';
import type { CachedList, ListOrder, PostedMessage } from './list-cache.js';
import * as q from './queries.js';
import { refreshPresence, type ChatForViewer } from './view.js';

export interface ChatListAnswer {
  chats: ChatForViewer[];
  count: number;
}

/**
 * `cached` (an answer to `filter` for `viewerId`) with its queued messages applied and its
 * presence read again, rendered by `render`; null when that cannot be done.
 */
export async function patchList(
  deps: Deps,
  viewerId: string,
  filter: q.ChatListFilter,
  cached: CachedList,
  render: (answer: ChatListAnswer) => string,
): Promise<{ json: string; order: ListOrder | null } | null> {
  const answer = JSON.parse(cached.json) as ChatListAnswer;
  // What was heard until now: the entry's queue grows while the chats below are read (the answer
  // is then not stored, src/chats/list-cache.ts set()).
  const pending = [...cached.pending];
  let order: ListOrder | null = null;
  let read = false;
  if (pending.length > 0) {
    // A page whose order does not match its chats (never, but a patch must not guess) is read again.
    if (!cached.order || cached.order.keys.length !== answer.chats.length) return null;
    const page = new Page(answer.chats, cached.order);
    // Chats that moved into the page from below: read now, they show their messages already.
    const below = [...new Set(pending.map((p) => p.chat))].filter((id) => !page.has(id));
    const found = await q.listedChats(deps.database.db, below, viewerId, deps.config.limits.unreadCap);
    // One the viewer is no longer in: its removal event is on its way (and drops the entry).
    if (found.length !== below.length) return null;
    for (const posted of pending) {
      if (!below.includes(posted.chat) && !page.post(posted, viewerId, deps.config.limits)) return null;
    }
    for (const { chat, key } of found) {
      if (matches(filter, chat)) page.add(chat as ChatForViewer, key);
    }
    read = found.length > 0;
    const sorted = page.sorted(filter.limit);
    if (!sorted) return null;
    answer.chats = sorted.chats;
    order = sorted.order;
  } else {
    order = cached.order;
  }
  // The chats read now have no isOnline yet; a presence change heard changes those cached.
  if ((cached.presence || read) && !refreshPresence(deps, answer.chats)) return null;
  return { json: render(answer), order };
}

/** Whether a chat belongs in the lists of `filter` (the WHERE of listChatsQuery, search aside). */
function matches(filter: q.ChatListFilter, chat: q.ChatForViewerRow): boolean {
  if (filter.group !== undefined && chat.isGroup !== filter.group) return false;
  // rulings.md 15: meetMeOnly narrows the one-to-one chats to those made from a meet-me connection.
  if (filter.meetMeOnly && !chat.isGroup && chat.meetMe === undefined) return false;
  return true;
}

/**
 * The limits the list statement applies that a patch must apply too: ACTIVITY_INLINE_MAX (larger
 * chats' order copies are rewritten after the commit) and UNREAD_CAP.
 */
type PatchLimits = Pick<Config['limits'], 'activityInlineMax' | 'unreadCap'>;

/** A first page being patched: its chats with their order keys, and which of them moved. */
class Page {
  private readonly rows: { chat: ChatForViewer; key: number; moved: boolean }[];

  constructor(chats: ChatForViewer[], order: ListOrder) {
    this.rows = chats.map((chat, i) => ({ chat, key: order.keys[i], moved: false }));
  }

  has(chatId: string): boolean {
    return this.rows.some((row) => row.chat._id === chatId);
  }

  /**
   * Applies a message posted into a chat of the page as the statement shows it once committed
   * (src/messages/queries.ts insertMessage, src/chats/queries.ts chatForViewerJson). False when
   * the page cannot tell:
   * - the message is not newer than the chat's key: shown already, or heard out of order;
   * - the chat has more than ACTIVITY_INLINE_MAX participants: the others' order copies follow
   *   after the commit (src/messages/activity.ts), so its place in their lists is not known here;
   * - the viewer or the sender is not among its participants (a membership change on its way).
   */
  post(posted: PostedMessage, viewerId: string, limits: PatchLimits): boolean {
    const row = this.rows.find((r) => r.chat._id === posted.chat);
    if (!row) return false;
    const chat = row.chat;
    if (posted.at <= row.key || chat.participantsCount > limits.activityInlineMax) return false;
    const viewer = chat.participants.find((p) => p.user._id === viewerId);
    const sender = chat.participants.find((p) => p.user._id === posted.sender);
    if (!viewer || !sender) return false;
    // unread counts live messages after the viewer's lastReadAt not sent by them, up to the cap.
    // The sender's read mark moves to the message, and every message the page knows is older.
    if (posted.sender === viewerId) chat.unread = 0;
    else if (posted.at > Date.parse(viewer.lastReadAt)) chat.unread = Math.min(chat.unread + 1, limits.unreadCap);
    // last_read_at = greatest(last_read_at, at)
    if (posted.at > Date.parse(sender.lastReadAt)) sender.lastReadAt = posted.message.at;
    chat.lastMessage = posted.message;
    // Every participant's copy is the chat's activity: the message's at.
    row.key = posted.at;
    row.moved = true;
    return true;
  }

  add(chat: ChatForViewer, key: number): void {
    this.rows.push({ chat, key, moved: true });
  }

  /**
   * The first `limit` chats in the statement's order (key descending, then chat id descending),
   * or null when a moved chat ties with another on its key (the ids' collation order is the
   * database's; unmoved chats keep the order it gave them). The chats below the page have keys
   * no higher than every unmoved one's, so the first `limit` here are the statement's.
   */
  sorted(limit: number): { chats: ChatForViewer[]; order: ListOrder } | null {
    const rows = [...this.rows].sort((a, b) => b.key - a.key);
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].key === rows[i - 1].key && (rows[i].moved || rows[i - 1].moved)) return null;
    }
    const kept = rows.slice(0, limit);
    return { chats: kept.map((r) => r.chat), order: { ids: kept.map((r) => r.chat._id), keys: kept.map((r) => r.key) } };
  }
}
