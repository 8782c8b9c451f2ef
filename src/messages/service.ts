// Messages, message files and uploads (supporting-api.md "Messages and files", chats-api.txt
// GET /chats/:id/files, rulings.md 12 and 19).
import { Readable } from 'node:stream';
import { requireAccess, requireParticipant } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import { transaction } from '../shared/effects.js';
import { refreshChatActivity } from './activity.js';
import { AppError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { objectKey } from '../storage/port.js';
import { mediaTypeOfFile, sniff, SNIFF_BYTES, storedName, type MediaType } from './media.js';
import type { FileInput, Message, Uploaded } from './message.js';
import * as q from './queries.js';

/** rulings.md 14: a message file sent without a tag is tagged `others`. */
export const DEFAULT_TAG = 'others';
const PUSH_BODY_MAX = 200;

const isBlank = (text: string | undefined): boolean => text === undefined || text.trim() === '';

/**
 * The storage key of a URL when it is one of ours AND lies in this chat's folder. Only such
 * objects are deleted with the message: a URL of another chat's object (or of anything else we
 * store) pasted into a message must never let its sender delete that object.
 */
function ownKey(deps: Deps, chatId: string, url: string | undefined): string | null {
  if (!url) return null;
  const key = deps.storage.keyFromUrl(url);
  return key && key.startsWith(`chats/${chatId}/`) ? key : null;
}

/** POST /chats/:id/messages */
export async function postMessage(
  deps: Deps,
  viewerId: string,
  chatId: string,
  input: { text?: string; files?: FileInput[]; socket?: string },
): Promise<Message> {
  const files = input.files ?? [];
  // "at least one of the two"; a text of only whitespace is no content (rulings.md 4: name the field).
  if (isBlank(input.text) && files.length === 0) {
    throw new AppError('VALIDATION_FAILED', 'text (not only whitespace) or files is required', { field: 'text' });
  }
  // With files, a blank caption is stored as no text.
  const text = isBlank(input.text) ? null : input.text!;

  return transaction(deps, async (tx, effects) => {
    const inlineMax = deps.config.limits.activityInlineMax;
    const access = requireAccess(await q.postingAccess(tx, chatId, viewerId, inlineMax));
    const participant = access.participant;
    if (access.blocked) throw new AppError('BLOCKED', 'You cannot send messages in this chat');
    if (!access.allowPublicPost && !participant.isAdmin) {
      throw new AppError('POSTING_NOT_ALLOWED', 'Only admins can post in this chat');
    }
    // supporting-api.md: a participant whose event status is pending or rejected cannot post.
    if (participant.status === 'pending' || participant.status === 'rejected') {
      throw new AppError('POSTING_NOT_ALLOWED', `Your participation is ${participant.status}: you cannot post yet`);
    }

    // Who is online decides who gets a push; asked of the presence while the message is written.
    // A large chat's: from the node's cache, read again only when its membership changed.
    const participantIds = access.memberIds ?? (await deps.chatMembers.of(tx, chatId, access.membersVersion));
    const others = participantIds.filter((userId) => userId !== viewerId);
    const online = others.length > 0 ? deps.realtime.onlineUsers(others) : Promise.resolve(new Set<string>());
    online.catch(() => {}); // awaited below; a statement failing first must not leave it unhandled

    const id = newId();
    const written = await q.insertMessage(
      tx,
      { id, chatId, userId: viewerId, text },
      participantIds.length,
      inlineMax,
    );
    await q.insertMessageFiles(
      tx,
      { id, chatId, userId: viewerId, at: written.at },
      files.map((file) => ({
        id: newId(),
        url: file.url,
        cover: file.cover ?? null,
        meta: file.meta ?? null,
        tag: file.tag ?? DEFAULT_TAG,
        mediaType: mediaTypeOfFile(file),
        storageKeys: [ownKey(deps, chatId, file.url), ownKey(deps, chatId, file.cover)].filter((k): k is string => !!k),
      })),
    );
    const message = files.length > 0 ? await q.messageJson(tx, id) : written.message;
    // A large chat: the sender's list is in order already; the others' follow within
    // ACTIVITY_REFRESH_MS (src/messages/activity.ts).
    if (written.activityPending) effects.refreshActivity(chatId);

    effects.emit(participantIds, 'message-created', { message }, input.socket);
    // Online users get the socket event; a push goes only to those with no socket anywhere
    // right now, so nobody gets both a live message and a notification for it.
    const onlineNow = await online;
    const offline = others.filter((userId) => !onlineNow.has(userId));
    if (offline.length > 0) {
      const what = text ?? 'sent a file';
      effects.push(offline, {
        event: 'message-created',
        chat: chatId,
        // One-to-one: the sender is the title. Group: the chat's name, and the sender in the body.
        title: access.isGroup ? (access.name ?? message.user.name) : message.user.name,
        body: truncate(access.isGroup ? `${message.user.name}: ${what}` : what, PUSH_BODY_MAX),
      });
    }
    return message;
  });
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/**
 * GET /chats/:id/messages: newest first, `limit` per page, older than the message `before`.
 * A `before` that is not a message of this chat is 404 MESSAGE_NOT_FOUND rather than an empty
 * page, so a client with a wrong cursor learns it instead of believing the history ended. A
 * deleted message is still a valid cursor (a client may hold one that was deleted meanwhile).
 */
export async function listMessages(
  deps: Deps,
  viewerId: string,
  chatId: string,
  query: { limit: number; before?: string },
): Promise<Message[]> {
  // One round trip: the access checks come back with the page (q.messagesForViewer).
  const page = requireAccess(
    await q.messagesForViewer(deps.database.db, chatId, viewerId, query.limit, query.before ?? null),
  );
  if (!page.cursorFound) throw new AppError('MESSAGE_NOT_FOUND', 'No such message in this chat', { field: 'before' });
  return JSON.parse(page.messages!) as Message[];
}

/** PUT /chats/:id/messages/:messageId */
export async function editMessage(
  deps: Deps,
  viewerId: string,
  chatId: string,
  messageId: string,
  input: { text: string; socket?: string },
): Promise<Message> {
  return transaction(deps, async (tx, effects) => {
    await requireParticipant(tx, chatId, viewerId);
    const existing = await q.findMessage(tx, chatId, messageId, true);
    if (!existing || existing.deleted) throw new AppError('MESSAGE_NOT_FOUND', 'No such message in this chat');
    if (existing.userId !== viewerId) throw new AppError('NOT_THE_SENDER', 'Only the sender can edit this message');
    // A message keeps some content: a blank text is allowed only when the message has files.
    if (isBlank(input.text) && !existing.hasFiles) {
      throw new AppError('VALIDATION_FAILED', 'text must not be only whitespace', { field: 'text' });
    }
    await q.editMessage(tx, messageId, isBlank(input.text) ? null : input.text);
    const message = await q.messageJson(tx, messageId);
    // lastMessage is read through chats.last_message_id, so an edit of the last message shows there too.
    effects.emit(await q.participantUserIds(tx, chatId), 'message-updated', { message }, input.socket);
    return message;
  });
}

/** DELETE /chats/:id/messages/:messageId: a soft delete by the sender or a chat admin. */
export async function deleteMessage(
  deps: Deps,
  viewerId: string,
  chatId: string,
  messageId: string,
  input: { socket?: string },
): Promise<void> {
  await transaction(deps, async (tx, effects) => {
    const participant = await requireParticipant(tx, chatId, viewerId);
    const existing = await q.findMessage(tx, chatId, messageId, true);
    if (!existing || existing.deleted) throw new AppError('MESSAGE_NOT_FOUND', 'No such message in this chat');
    if (existing.userId !== viewerId && !participant.isAdmin) {
      throw new AppError('NOT_THE_SENDER', 'Only the sender or a chat admin can delete this message');
    }
    await q.softDeleteMessage(tx, messageId);
    const keys = await q.deleteMessageFiles(tx, messageId);
    const inUse = await q.keysInUse(tx, chatId, keys);
    for (const key of keys) if (!inUse.has(key)) effects.deleteObject(key);

    // rulings.md 12: lastMessage is the newest live message; activity follows it (src/db/schema.ts).
    const participantIds = (await q.moveLastMessageFrom(tx, chatId, messageId))
      ? await refreshChatActivity(deps, tx, effects, chatId)
      : await q.participantUserIds(tx, chatId);
    effects.emit(participantIds, 'message-deleted', { chat: chatId, message: messageId }, input.socket);
  });
}

/** GET /chats/:id/files (rulings.md 19). */
export async function listFiles(
  deps: Deps,
  viewerId: string,
  chatId: string,
  query: { limit: number; page: number; type: MediaType; tag: string },
) {
  const db = deps.database.db;
  await requireParticipant(db, chatId, viewerId);
  return q.listFiles(db, { chatId, mediaType: query.type, tag: query.tag }, query.limit, (query.page - 1) * query.limit);
}

export interface UploadPart {
  fieldName: string;
  /** As the client sent it: a part may come without one. */
  fileName: string | undefined;
  /** The multipart file stream; `truncated` is set when it went over the size limit. */
  stream: Readable & { truncated?: boolean };
}

/**
 * POST /chats/:id/uploads. The file streams straight into storage: only its first bytes are held,
 * to tell its type by content. `receive` yields the multipart file once access is checked.
 * Any participant may upload (supporting-api.md names no other rule); the posting rules apply
 * when the URL is sent in a message. An empty file is a 400 (nothing to tell the type from).
 */
export async function upload(
  deps: Deps,
  viewerId: string,
  chatId: string,
  receive: () => Promise<UploadPart | undefined>,
): Promise<Uploaded> {
  await requireParticipant(deps.database.db, chatId, viewerId);
  const part = await receive();
  if (!part) throw new AppError('VALIDATION_FAILED', 'file is required', { field: 'file' });
  const chunks = part.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Reads (and drops) the rest, so the client's request ends normally before it gets the error.
  const discardRest = async () => {
    while (!(await chunks.next()).done) {
      // dropped
    }
  };
  if (part.fieldName !== 'file') {
    await discardRest();
    throw new AppError('VALIDATION_FAILED', 'the multipart field must be named file', { field: 'file' });
  }

  const headChunks: Buffer[] = [];
  let headSize = 0;
  let ended = false;
  while (headSize < SNIFF_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    headChunks.push(next.value);
    headSize += next.value.length;
  }
  const head = Buffer.concat(headChunks);
  // Control characters (NUL among them) are left out of the name, which keeps its last 255
  // characters: code points, as a cut through an emoji would leave a lone surrogate.
  const characters = [...((part.fileName ?? '').split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim()];
  const fileName = characters.slice(-255).join('') || 'file';
  if (head.length === 0) throw new AppError('VALIDATION_FAILED', 'file is empty', { field: 'file' });
  const sniffed = sniff(head, fileName);
  if (!sniffed) {
    if (!ended) await discardRest();
    throw new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Only images, video, audio and documents (PDF, office, text) can be uploaded',
      { field: 'file' },
    );
  }

  const key = objectKey(`chats/${chatId}`, storedName(fileName, sniffed));
  async function* body() {
    yield head;
    if (!ended) {
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    }
    // @fastify/multipart does not throw over limits.fileSize: the stream just ends early with
    // `truncated` set (STACK.md). Failing here makes the storage write fail and leave nothing.
    if (part!.stream.truncated) throw tooLarge(deps);
  }
  let stored;
  try {
    stored = await deps.storage.put(key, Readable.from(body(), { objectMode: false }), sniffed.contentType);
  } catch (error) {
    await removeObject(deps, key);
    throw error;
  }
  // A storage that finished the write despite the failing body: the object must not stay.
  if (part.stream.truncated) {
    await removeObject(deps, key);
    throw tooLarge(deps);
  }
  return { url: stored.url, meta: { mediaType: sniffed.mediaType, fileName, fileSize: stored.size } };
}

const tooLarge = (deps: Deps) =>
  new AppError('PAYLOAD_TOO_LARGE', `The file is larger than ${deps.config.limits.uploadMaxBytes} bytes`, { field: 'file' });

/** Deletes an object that must not stay; when storage fails, the delete worker retries it later. */
async function removeObject(deps: Deps, key: string): Promise<void> {
  try {
    await deps.storage.delete(key);
  } catch (error) {
    deps.log.warn({ err: error, key }, 'could not delete a rejected upload; queued for retry');
    await q.recordPendingDelete(deps.database.db, key);
  }
}
