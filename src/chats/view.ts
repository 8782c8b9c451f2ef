// How a chat is shown, shared by every resource that answers or emits a chat:
// - the chat document (POST /chats, PUT /chats/:id, and the {chat} of chat-created / chat-updated /
//   chat-joined socket events): participants' `user` is a plain id (rulings.md 11);
// - the chat for a viewer (GET /chats items and GET /chats/:id): users populated, isOnline,
//   lastMessage, unread, areYouAdmin, and for one-to-one chats the other party's name and photo
//   (rulings.md 9-12).
import { Type, type Static } from '@sinclair/typebox';
import type { Db } from '../db/client.js';
import type { Deps } from '../shared/deps.js';
import { AppError } from '../shared/errors.js';
import { DateTime, Id, Nullable, UserBrief } from '../shared/schemas.js';
import * as q from './queries.js';

export const Tag = Type.Object({ tag: Type.String(), label: Type.String() });

/** rulings.md 13: isAdmin appears only for admins; status only in event chats (rulings.md 25). */
export const ParticipantDocument = Type.Object({
  user: Id,
  isAdmin: Type.Optional(Type.Literal(true)),
  _id: Id,
  lastReadAt: DateTime,
  status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('rejected')])),
});
export type ParticipantDocument = Static<typeof ParticipantDocument>;

/** The POST /chats response shape. Optional keys are omitted when unset. */
export const ChatDocument = Type.Object({
  _id: Id,
  creator: Id,
  isGroup: Type.Boolean(),
  category: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  allowPublicPost: Type.Boolean(),
  participants: Type.Array(ParticipantDocument),
  restricted: Type.Boolean(),
  tags: Type.Array(Tag),
  createdAt: DateTime,
  updatedAt: DateTime,
  photo: Type.Optional(Type.String()),
  /** One-to-one: the other party named at creation (rulings.md 9). */
  user: Type.Optional(Id),
  /** One-to-one chats created from a meet-me connection: the connection id. */
  meetMe: Type.Optional(Id),
  event: Type.Optional(Id),
});
export type ChatDocument = Static<typeof ChatDocument>;

/** rulings.md 8: isOnline where the spec shows it (the chat's `user` and participants' users). */
export const UserOnline = Type.Object({ ...UserBrief.properties, isOnline: Type.Boolean() });

export const ParticipantForViewer = Type.Object({
  user: UserOnline,
  isAdmin: Type.Optional(Type.Literal(true)),
  _id: Id,
  lastReadAt: DateTime,
  status: ParticipantDocument.properties.status,
});

/** The spec's lastMessage (message_json in drizzle/0001_sql_functions.sql); owned by messages. */
export const LastMessage = Type.Object(
  {
    _id: Id,
    user: UserBrief,
    chat: Id,
    files: Type.Array(Type.Object({}, { additionalProperties: true })),
    at: DateTime,
    text: Type.Optional(Type.String()),
    editedAt: Type.Optional(DateTime),
  },
  { additionalProperties: true },
);
export type LastMessage = Static<typeof LastMessage>;

/** A GET /chats item and the GET /chats/:id chat. */
export const ChatForViewer = Type.Object({
  _id: Id,
  creator: UserBrief,
  user: Type.Optional(UserOnline),
  isGroup: Type.Boolean(),
  category: Type.Optional(Type.String()),
  /** rulings.md 9: one-to-one chats show the other party's name and photo. */
  name: Type.Optional(Type.String()),
  photo: Type.Optional(Type.String()),
  allowPublicPost: Type.Boolean(),
  restricted: Type.Boolean(),
  participants: Type.Array(ParticipantForViewer),
  participantsCount: Type.Integer(),
  tags: Type.Array(Tag),
  createdAt: DateTime,
  updatedAt: DateTime,
  meetMe: Type.Optional(Id),
  event: Type.Optional(Id),
  lastMessage: Nullable(LastMessage),
  unread: Type.Integer(),
  isJoined: Type.Boolean(),
  areYouAdmin: Type.Boolean(),
});
export type ChatForViewer = Static<typeof ChatForViewer>;

/** The chat document of one chat in one round trip, or null when there is no such chat. */
export async function chatDocument(db: Db, chatId: string): Promise<ChatDocument | null> {
  return (await q.chatDocuments(db, [chatId]))[0] ?? null;
}

/** The chat as `viewerId` sees it (one round trip, then one presence look-up), or null. */
export async function chatForViewer(deps: Deps, db: Db, chatId: string, viewerId: string): Promise<ChatForViewer | null> {
  const chat = await q.chatForViewer(db, chatId, viewerId, deps.config.limits.unreadCap);
  if (!chat) return null;
  return (await withPresence(deps, [chat]))[0];
}

/** The users whose isOnline the chats show: their `user` and participants' users. */
function shownUsers(chats: Pick<q.ChatForViewerRow, 'user' | 'participants'>[]): string[] {
  const ids = new Set<string>();
  for (const chat of chats) {
    if (chat.user) ids.add(chat.user._id);
    for (const p of chat.participants) ids.add(p.user._id);
  }
  return [...ids];
}

/**
 * Sets the chats' isOnline values again, in place, from the presence this node keeps in memory;
 * false, changing nothing, when it keeps none (src/chats/list-cache.ts: a cached list after a
 * presence change).
 */
export function refreshPresence(deps: Pick<Deps, 'realtime'>, chats: ChatForViewer[]): boolean {
  const ids = shownUsers(chats);
  if (ids.length === 0) return true;
  const online = deps.realtime.onlineUsersNow(ids);
  if (!online) return false;
  for (const chat of chats) {
    if (chat.user) chat.user.isOnline = online.has(chat.user._id);
    for (const p of chat.participants) p.user.isOnline = online.has(p.user._id);
  }
  return true;
}

/** Adds isOnline to the chats' `user` and participants' users from ONE presence look-up. */
export async function withPresence(deps: Pick<Deps, 'realtime'>, chats: q.ChatForViewerRow[]): Promise<ChatForViewer[]> {
  const ids = shownUsers(chats);
  const online = ids.length > 0 ? await deps.realtime.onlineUsers(ids) : new Set<string>();
  return chats.map(({ user, ...chat }) => ({
    ...chat,
    ...(user ? { user: { ...user, isOnline: online.has(user._id) } } : {}),
    participants: chat.participants.map((p) => ({ ...p, user: { ...p.user, isOnline: online.has(p.user._id) } })),
  }));
}

export interface ViewerParticipant {
  id: string;
  isAdmin: boolean;
  status: 'pending' | 'accepted' | 'rejected' | null;
  lastReadAt: string;
}

/** The viewer's participant row; 404 CHAT_NOT_FOUND when no such chat, 403 NOT_A_PARTICIPANT. */
export async function requireParticipant(db: Db, chatId: string, viewerId: string): Promise<ViewerParticipant> {
  return requireAccess(await q.findChatAndParticipant(db, chatId, viewerId)).participant;
}

/**
 * The access rule of the chat routes on a row read with the chat and the viewer's participant: no
 * row (no such chat) is 404 CHAT_NOT_FOUND, a null participant 403 NOT_A_PARTICIPANT; else the row.
 */
export function requireAccess<R extends { participant: unknown }>(row: R | undefined): R & { participant: NonNullable<R['participant']> } {
  if (!row) throw new AppError('CHAT_NOT_FOUND', 'No such chat');
  if (row.participant === null || row.participant === undefined) {
    throw new AppError('NOT_A_PARTICIPANT', 'You are not a participant of this chat');
  }
  return row as R & { participant: NonNullable<R['participant']> };
}

export type ChatRow = q.ChatRow;

/**
 * The chat row or 404 CHAT_NOT_FOUND. `forUpdate` locks the row until the transaction ends
 * (serializes membership changes of one chat).
 */
export async function loadChat(db: Db, chatId: string, options: { forUpdate?: boolean } = {}): Promise<ChatRow> {
  const chat = await q.findChat(db, chatId, options.forUpdate ?? false);
  if (!chat) throw new AppError('CHAT_NOT_FOUND', 'No such chat');
  return chat;
}

/** rulings.md 14: a category's tags from the configured catalog ([] for none or unknown). */
export function categoryTags(deps: Pick<Deps, 'config'>, category: string | null | undefined): Static<typeof Tag>[] {
  if (!category) return [];
  return deps.config.catalog.categories.find((c) => c.name === category)?.tags ?? [];
}
