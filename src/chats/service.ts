// The rules of the chat routes of chats-api.txt and rulings.md 9-15, 20-23, 28-29.
import type { Deps } from '../shared/deps.js';
import { refreshChatActivity } from '../messages/activity.js';
import { transaction } from '../shared/effects.js';
import { AppError, isForeignKeyViolation } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { objectKey } from '../storage/port.js';
import * as users from '../users/queries.js';
import { isCurrent } from './list-cache.js';
import { patchList, type ChatListAnswer } from './list-patch.js';
import { sniffImage } from './photo.js';
import * as q from './queries.js';
import {
  categoryTags,
  chatDocument,
  loadChat,
  refreshPresence,
  requireParticipant,
  withPresence,
  type ChatDocument,
  type ChatForViewer,
} from './view.js';

/** chats-api.txt: "If category is Courses, then restricted field will always be false". */
const COURSES = 'Courses';

/** GET /chats: the page with presence, the total count, and the page's order keys (for the cache). */
async function listChats(deps: Deps, viewerId: string, filter: q.ChatListFilter) {
  const search = filter.search?.trim();
  const { chats, count, keys } = await q.listChats(
    deps.database.db,
    viewerId,
    { ...filter, search: search || undefined },
    deps.config.limits.unreadCap,
  );
  return { chats: await withPresence(deps, chats), count, keys };
}

/**
 * GET /chats as the JSON text of its answer, `render` being the route's serializer (the response
 * schema). Served from the chat list cache when it holds this query of this viewer, patched with
 * what the viewer heard since (src/chats/list-patch.ts); otherwise computed. Either is stored
 * unless the viewer's lists were invalidated meanwhile (src/chats/list-cache.ts). A hit, a patch
 * and a miss answer the same bytes. Searches are never cached.
 */
export async function listChatsJson(
  deps: Deps,
  viewerId: string,
  filter: q.ChatListFilter,
  render: (answer: ChatListAnswer) => string,
): Promise<string> {
  const cache = deps.chatLists;
  const key = cache.keyOf(filter);
  if (key === null) {
    const { chats, count } = await listChats(deps, viewerId, filter);
    return render({ chats, count });
  }
  const cached = cache.lookup(viewerId, key);
  if (cached && isCurrent(cached)) return cached.json;
  // Before the reads: an invalidation or an event from here on marks this fill stale.
  const fill = cache.beginFill(viewerId);
  try {
    const patched = cached ? await patchList(deps, viewerId, filter, cached, render) : null;
    if (patched) {
      cache.patched++;
      cache.set(fill, key, patched.json, patched.order);
      return patched.json;
    }
    const { chats, count, keys } = await listChats(deps, viewerId, filter);
    const json = render({ chats, count });
    // Only a first page takes messages: on later pages the chat would leave.
    cache.set(fill, key, json, filter.page === 1 ? { ids: chats.map((chat) => chat._id), keys } : null);
    return json;
  } catch (error) {
    cache.cancel(fill);
    throw error;
  }
}

export async function getChat(deps: Deps, viewerId: string, chatId: string): Promise<ChatForViewer> {
  const chat = await q.chatForViewer(deps.database.db, chatId, viewerId, deps.config.limits.unreadCap);
  if (!chat) throw new AppError('CHAT_NOT_FOUND', 'No such chat');
  if (!chat.isJoined) throw new AppError('NOT_A_PARTICIPANT', 'You are not a participant of this chat');
  return (await withPresence(deps, [chat]))[0];
}

export interface CreateChatInput {
  isGroup?: boolean;
  user?: string;
  meetMe?: string;
  name?: string;
  category?: string;
  participants?: string[];
  restricted?: boolean;
  allowPublicPost?: boolean;
  socket?: string;
}

/** POST /chats: `created` false means an existing one-to-one chat was returned (200). */
export async function createChat(
  deps: Deps,
  viewerId: string,
  input: CreateChatInput,
): Promise<{ chat: ChatDocument; created: boolean }> {
  return input.isGroup ? createGroup(deps, viewerId, input) : createOneToOne(deps, viewerId, input);
}

/**
 * rulings.md 20. Checks in this order: input (400), the user exists (404), blocks (403), the
 * meet-me connection when given (400/404); then an existing chat of the pair is returned (200)
 * even if the viewer no longer follows the user, as the chat is already in both lists; only a new
 * chat needs the user followed or connected (403 NOT_FOLLOWED).
 */
async function createOneToOne(deps: Deps, viewerId: string, input: CreateChatInput) {
  const db = deps.database.db;
  const userId = input.user;
  if (!userId) throw new AppError('VALIDATION_FAILED', 'user is required for a one-to-one chat', { field: 'user' });
  if (userId === viewerId) {
    throw new AppError('VALIDATION_FAILED', 'You cannot start a chat with yourself', { field: 'user' });
  }
  const other = await users.findUser(db, userId);
  if (!other) throw new AppError('USER_NOT_FOUND', 'No such user');
  if (await users.isBlockedEitherWay(db, viewerId, userId)) {
    throw new AppError('BLOCKED', 'You cannot chat with this user');
  }
  if (input.meetMe) {
    const connection = await q.findConnection(db, input.meetMe);
    if (!connection) throw new AppError('CONNECTION_NOT_FOUND', 'No such meet-me connection');
    const between =
      (connection.requesterId === viewerId && connection.userId === userId) ||
      (connection.requesterId === userId && connection.userId === viewerId);
    if (!between) {
      throw new AppError('INVALID_CONNECTION', 'That connection is not between you and this user', { field: 'meetMe' });
    }
    if (connection.status !== 'accepted') {
      throw new AppError('INVALID_CONNECTION', 'That connection is not accepted', { field: 'meetMe' });
    }
  }

  const existing = await q.findChatIdByPair(db, q.pairKeyOf(viewerId, userId));
  if (existing) return { chat: seenWith((await chatDocument(db, existing))!, other), created: false };

  if (!input.meetMe && !(await users.reachableUserIds(db, viewerId, [userId])).has(userId)) {
    throw new AppError('NOT_FOLLOWED', 'You can only chat with users you follow or are connected with', {
      users: [userId],
    });
  }

  return transaction(deps, async (tx, effects) => {
    const result = await q
      .insertOneToOne(tx, {
        id: newId(),
        creatorId: viewerId,
        userId,
        meetMeId: input.meetMe ?? null,
        creatorParticipantId: newId(),
        userParticipantId: newId(),
      })
      .catch(translateMissingUser);
    const chat = (await chatDocument(tx, result.id))!;
    // A concurrent request created the pair's chat first: answer it like an existing one, no events.
    if (result.created) {
      // rulings.md 22: chat-created to every participant, the requesting socket excepted; no
      // push for one-to-one chats. Each side sees the other's name and photo.
      const viewer = (await users.findUser(tx, viewerId))!;
      effects.emit([viewerId], 'chat-created', { chat: seenWith(chat, other) }, input.socket);
      effects.emit([userId], 'chat-created', { chat: seenWith(chat, viewer) });
    }
    return { chat: seenWith(chat, other), created: result.created };
  });
}

/**
 * rulings.md 9: a one-to-one chat seen by one party has the other party's name and photo, in the
 * POST /chats answer and chat-created as in GET /chats.
 */
function seenWith(chat: ChatDocument, other: users.UserRow): ChatDocument {
  return { ...chat, name: other.name, ...(other.photo ? { photo: other.photo } : {}) };
}

/** A new group chat's checked input (rulings.md 21): POST /chats and POST /events (src/events/). */
export interface NewGroup {
  name: string;
  category: string;
  tags: { tag: string; label: string }[];
  restricted: boolean;
  allowPublicPost: boolean;
  /** The other participants: duplicates and the viewer dropped. */
  others: string[];
  creator: users.UserRow;
}

/**
 * rulings.md 21's checks of a new group chat, before its transaction. `participantsRequired`:
 * POST /chats needs participants, an event's chat may start with its creator alone.
 */
export async function prepareGroup(
  deps: Deps,
  viewerId: string,
  input: CreateChatInput,
  options: { participantsRequired: boolean } = { participantsRequired: true },
): Promise<NewGroup> {
  const db = deps.database.db;
  const name = input.name?.trim();
  if (!name) throw new AppError('VALIDATION_FAILED', 'name is required for a group chat', { field: 'name' });
  if (!input.category) {
    throw new AppError('VALIDATION_FAILED', 'category is required for a group chat', { field: 'category' });
  }
  const category = requireCategory(deps, input.category);
  if (!input.participants && options.participantsRequired) {
    throw new AppError('VALIDATION_FAILED', 'participants is required for a group chat', { field: 'participants' });
  }
  // Duplicates and the viewer's own id are dropped (rulings.md 21).
  const others = [...new Set(input.participants ?? [])].filter((id) => id !== viewerId);

  const existing = await users.existingUserIds(db, others);
  const unknown = others.filter((id) => !existing.has(id));
  if (unknown.length > 0) throw new AppError('USER_NOT_FOUND', 'Some participants do not exist', { users: unknown });
  const reachable = await users.reachableUserIds(db, viewerId, others);
  const unreachable = others.filter((id) => !reachable.has(id));
  if (unreachable.length > 0) {
    throw new AppError('NOT_FOLLOWED', 'Participants must be users you follow or are connected with', {
      users: unreachable,
    });
  }
  // The viewer exists: a token naming no user is refused before any route (src/auth/tokens.ts).
  const creator = (await users.findUser(db, viewerId))!;
  return {
    name,
    category,
    tags: categoryTags(deps, category),
    restricted: category === COURSES ? false : (input.restricted ?? false),
    allowPublicPost: input.allowPublicPost ?? true,
    others,
    creator,
  };
}

/** rulings.md 21: group chats. */
async function createGroup(deps: Deps, viewerId: string, input: CreateChatInput) {
  const { name, category, tags, restricted, allowPublicPost, others, creator } = await prepareGroup(deps, viewerId, input);

  return transaction(deps, async (tx, effects) => {
    const chatId = newId();
    await q
      .insertGroupChat(tx, {
        id: chatId,
        creatorId: viewerId,
        name,
        category,
        tags,
        restricted,
        allowPublicPost,
        participants: [
          ...others.map((userId) => ({ id: newId(), userId, isAdmin: false })),
          // rulings.md 13: the creator is an admin participant.
          { id: newId(), userId: viewerId, isAdmin: true },
        ],
      })
      .catch(translateMissingUser);
    const chat = (await chatDocument(tx, chatId))!;
    effects.emit([viewerId, ...others], 'chat-created', { chat }, input.socket);
    // rulings.md 22: push to every participant but the viewer, group chats only.
    effects.push(others, {
      event: 'chat-created',
      chat: chatId,
      title: name,
      body: `${creator.name} added you to ${name}`,
    });
    return { chat, created: true };
  });
}

/** A user deleted between the checks and the insert. */
export function translateMissingUser(error: unknown): never {
  if (isForeignKeyViolation(error)) throw new AppError('USER_NOT_FOUND', 'A user of this chat no longer exists');
  throw error;
}

/** rulings.md 14: a chat's category must be one of the configured categories. */
function requireCategory(deps: Deps, category: string): string {
  if (!deps.config.catalog.categories.some((c) => c.name === category)) {
    const names = deps.config.catalog.categories.map((c) => c.name).join(', ');
    throw new AppError('VALIDATION_FAILED', `category must be one of: ${names}`, { field: 'category' });
  }
  return category;
}

export interface UpdateChatForm {
  /** The text fields as sent (multipart values are strings); `socket` as the viewer's socket room. */
  fields: Partial<Record<'name' | 'category' | 'restricted' | 'allowPublicPost' | 'socket', string>>;
  photo?: { data: Buffer; fileName: string };
}

function formBoolean(value: string | undefined, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new AppError('VALIDATION_FAILED', `${field} must be 'true' or 'false'`, { field });
}

/**
 * PUT /chats/:id (rulings.md 23): admin of a group chat only. The new photo is stored before the
 * transaction and deleted again if the transaction fails; the old one is deleted after commit.
 */
export async function updateChat(deps: Deps, viewerId: string, chatId: string, form: UpdateChatForm): Promise<ChatDocument> {
  const db = deps.database.db;
  const me = await requireParticipant(db, chatId, viewerId);
  const current = await loadChat(db, chatId);
  if (!current.isGroup) throw new AppError('NOT_A_GROUP', 'Only group chats can be edited');
  if (!me.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin can edit this chat');

  const { fields } = form;
  let name: string | undefined;
  if (fields.name !== undefined) {
    name = fields.name.trim();
    // Characters as the POST /chats schema counts them (code points), not UTF-16 units.
    const characters = [...name].length;
    if (characters < 1 || characters > 100) {
      throw new AppError('VALIDATION_FAILED', 'name must be 1 to 100 characters', { field: 'name' });
    }
  }
  const category = fields.category !== undefined ? requireCategory(deps, fields.category) : undefined;
  let restricted = formBoolean(fields.restricted, 'restricted');
  const allowPublicPost = formBoolean(fields.allowPublicPost, 'allowPublicPost');
  // chats-api.txt: a Courses chat is never restricted (the new category, else the current one).
  if ((category ?? current.category) === COURSES) restricted = false;

  let stored: { key: string; url: string } | null = null;
  if (form.photo) {
    const image = await sniffImage(form.photo.data);
    if (!image) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'photo must be a jpeg, png, webp, avif or gif image', { field: 'photo' });
    }
    const base = form.photo.fileName.replace(/\.[^./\\]*$/, '') || 'photo';
    const key = objectKey(`chats/${chatId}`, `${base}.${image.extension}`);
    stored = await deps.storage.put(key, form.photo.data, image.contentType);
  }

  try {
    return await transaction(deps, async (tx, effects) => {
      // Locked so that a concurrent photo change cannot lose track of the object it replaced;
      // the admin right is read again under the lock (it may have been revoked meanwhile).
      const locked = await loadChat(tx, chatId, { forUpdate: true });
      if (!(await requireParticipant(tx, chatId, viewerId)).isAdmin) {
        throw new AppError('NOT_AN_ADMIN', 'Only an admin can edit this chat');
      }
      await q.updateChat(tx, chatId, {
        name,
        category,
        tags: category !== undefined ? categoryTags(deps, category) : undefined,
        restricted,
        allowPublicPost,
        ...(stored ? { photo: stored.url, photoKey: stored.key } : {}),
      });
      const participantIds = await refreshChatActivity(deps, tx, effects, chatId);
      if (stored) effects.deleteObject(locked.photoKey);
      const chat = (await chatDocument(tx, chatId))!;
      effects.emit(participantIds, 'chat-updated', { chat }, fields.socket);
      return chat;
    });
  } catch (error) {
    // Never keep an object nothing points to.
    if (stored) await deps.storage.delete(stored.key).catch((e) => deps.log.warn({ err: e }, 'photo cleanup failed'));
    throw error;
  }
}

/** DELETE /chats/:id (rulings.md 29): admin of a group chat only. */
export async function deleteChat(deps: Deps, viewerId: string, chatId: string, socket?: string): Promise<void> {
  await transaction(deps, async (tx, effects) => {
    // The chat row is locked first, as every membership change does, so the admin right read
    // below cannot change before the delete commits.
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const me = await requireParticipant(tx, chatId, viewerId);
    if (!chat.isGroup) throw new AppError('NOT_A_GROUP', 'Only group chats can be deleted');
    if (!me.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin can delete this chat');
    const participantIds = await q.participantUserIds(tx, chatId);
    // Storage objects go after commit; a failed delete is retried by the object deleter.
    effects.deleteObject(chat.photoKey);
    for (const key of await q.messageFileKeys(tx, chatId)) effects.deleteObject(key);
    await q.deleteChat(tx, chatId, chat.eventId);
    effects.emit(participantIds, 'chat-deleted', { chat: chatId }, socket);
  });
}

/** POST /chats/:id/read (rulings.md 28). */
export async function markRead(deps: Deps, viewerId: string, chatId: string, socket?: string): Promise<void> {
  await transaction(deps, async (tx, effects) => {
    const me = await requireParticipant(tx, chatId, viewerId);
    const { lastReadAt, participantIds } = await q.markRead(tx, me.id);
    effects.emit([viewerId], 'chat-read', { chat: chatId, lastReadAt }, socket);
    // The reader's lastReadAt shows in every participant's GET /chats (participants[]); only the
    // reader gets an event, so the others' cached lists are dropped here (src/chats/list-cache.ts).
    effects.staleChatLists(participantIds);
  });
}
