// GET /sync: what changed for the viewer since a point in time, so a client that was away longer
// than the socket recovery window (or whose session could not be recovered) catches up without
// reloading everything. README "Catching up after a disconnect" describes the protocol.
import { chatsForViewer } from '../chats/queries.js';
import { withPresence, type ChatForViewer } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import * as q from './queries.js';

/** Chats (and, separately, removed chats) in one answer; the client asks again when there are more. */
export const MAX_CHATS = 500;

export interface SyncAnswer {
  /** The `since` of the next call. */
  now: string;
  /** More changed or removed chats than one answer holds: call again with since = now. */
  hasMoreChats: boolean;
  chats: ChatForViewer[];
  removedChats: q.RemovedChat[];
  messages: q.ChatMessages[];
  readMarkers: { chat: string; lastReadAt: string }[];
}

export async function sync(deps: Deps, viewerId: string, query: { since: string; limit: number }): Promise<SyncAnswer> {
  const db = deps.database.db;
  // Before the snapshot: see syncCursor for why it is not simply the snapshot's now().
  const cursor = await q.syncCursor(db);
  const read = await q.inSnapshot(db, async (tx) => {
    const changed = await q.changedChats(tx, viewerId, query.since, MAX_CHATS + 1);
    const removed = await q.removedChats(tx, viewerId, query.since, MAX_CHATS + 1);
    const page = changed.slice(0, MAX_CHATS);
    const chatIds = page.map((c) => c.chat);
    const chats = await chatsForViewer(tx, chatIds, viewerId, deps.config.limits.unreadCap);
    const messages = await q.changedMessages(tx, viewerId, chatIds, query.since, query.limit);
    return { changed, removed, page, chats, messages };
  });

  // Both lists are in order of their earliest change. When one was cut, everything left out
  // changed at or after the first row left out, so that row's time is where the next call
  // resumes; what this answer already holds past it comes again then (applied idempotently).
  // Progress needs fewer than 500 of one user's chats to change in the same millisecond; every
  // write route changes one chat.
  let now = cursor;
  if (read.changed.length > MAX_CHATS) now = earliest(now, read.changed[MAX_CHATS].firstChangeAt);
  if (read.removed.length > MAX_CHATS) now = earliest(now, read.removed[MAX_CHATS].removedAt);

  return {
    now,
    hasMoreChats: read.changed.length > MAX_CHATS || read.removed.length > MAX_CHATS,
    // One presence look-up for every user of the answer (withPresence).
    chats: await withPresence(deps, read.chats),
    removedChats: read.removed.slice(0, MAX_CHATS),
    messages: read.messages,
    readMarkers: read.page.filter((c) => c.readChanged).map((c) => ({ chat: c.chat, lastReadAt: c.lastReadAt })),
  };
}

/** ISO 8601 UTC strings of one format (rulings.md 2) order as text. */
const earliest = (a: string, b: string) => (a <= b ? a : b);
