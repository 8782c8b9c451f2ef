// Join requests of restricted group chats (supporting-api.md "Events, join requests, reels,
// score"; rulings.md 25: a restricted chat is joined through a request). Both routes lock the chat
// row first, as the participant routes do, so membership checks hold until commit.
import { loadChat, requireParticipant } from '../chats/view.js';
import * as participants from '../participants/queries.js';
import { addParticipant } from '../participants/service.js';
import type { Deps } from '../shared/deps.js';
import { transaction } from '../shared/effects.js';
import { AppError, isUniqueViolation } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import * as users from '../users/queries.js';
import * as q from './queries.js';

/**
 * POST /chats/:id/requests. Checks: the chat (404), a group (400 NOT_A_GROUP), the viewer not in
 * it (409 ALREADY_PARTICIPANT), no block either way with its creator (403 BLOCKED, as for joining),
 * restricted (400 NOT_RESTRICTED: an open chat is joined with POST /chats/:id/participants), no
 * pending request of the viewer (409 REQUEST_PENDING; the unique index join_requests_pending_key
 * settles races). The chat's admins get chat-request-created {chat, request} by socket and push.
 */
export async function createRequest(deps: Deps, viewerId: string, chatId: string, socket?: string): Promise<q.JoinRequest> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    if (!chat.isGroup) throw new AppError('NOT_A_GROUP', 'This is not a group chat');
    if (await participants.findParticipant(tx, chatId, viewerId)) {
      throw new AppError('ALREADY_PARTICIPANT', 'You are already a participant of this chat');
    }
    if (chat.creatorId !== viewerId && (await users.isBlockedEitherWay(tx, viewerId, chat.creatorId))) {
      throw new AppError('BLOCKED', 'You cannot join this chat');
    }
    if (!chat.restricted) {
      throw new AppError('NOT_RESTRICTED', 'This chat is not restricted: join it with POST /chats/:id/participants');
    }
    if (await q.hasPendingRequest(tx, chatId, viewerId)) {
      throw new AppError('REQUEST_PENDING', 'You already have a pending request for this chat');
    }
    let request: q.JoinRequest;
    try {
      request = await q.insertRequest(tx, { id: newId(), chatId, userId: viewerId });
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('REQUEST_PENDING', 'You already have a pending request for this chat');
      throw error;
    }
    const admins = await q.adminUserIds(tx, chatId);
    const requester = await users.findUser(tx, viewerId);
    const chatName = chat.name ?? 'your group chat';
    // Not in the spec's socket table (documented in README.md's socket section).
    effects.emit(admins, 'chat-request-created', { chat: chatId, request }, socket);
    effects.push(admins, {
      event: 'chat-request-created',
      chat: chatId,
      title: chatName,
      body: `${requester?.name ?? 'Someone'} asks to join ${chatName}`,
    });
    return request;
  });
}

/**
 * POST /chats/:id/requests/:requestId/status: an admin of the chat accepts or rejects a pending
 * request (404 REQUEST_NOT_FOUND, 409 CONFLICT when already decided). Accepted: the requester
 * becomes a participant through the same code as joining (addParticipant: chat-joined to them,
 * chat-updated to the others, join-group-chat score once); in an event chat as `accepted`, the
 * admin having decided already. A request whose user became a participant meanwhile (added by an
 * admin, joined after the chat was opened) is no longer pending: the database settles it
 * (drizzle/0007_settle_join_requests.sql), so it is a 409 here. The requester is told by socket
 * and push: chat-request-updated {chat, request}.
 */
export async function decideRequest(
  deps: Deps,
  viewerId: string,
  chatId: string,
  requestId: string,
  status: 'accepted' | 'rejected',
  socket?: string,
): Promise<q.JoinRequest> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const me = await requireParticipant(tx, chatId, viewerId);
    if (!me.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of this chat can answer join requests');
    const found = await q.findRequest(tx, chatId, requestId);
    if (!found) throw new AppError('REQUEST_NOT_FOUND', 'No such join request in this chat', { field: 'requestId' });
    if (found.status !== 'pending') throw new AppError('CONFLICT', `This request is ${found.status} already`);

    const request = await q.setRequestStatus(tx, requestId, status);
    if (status === 'accepted') {
      await addParticipant(tx, effects, deps, chatId, found.user, chat.eventId ? 'accepted' : null, socket);
    }
    const chatName = chat.name ?? 'a group chat';
    effects.emit([found.user], 'chat-request-updated', { chat: chatId, request }, socket);
    effects.push([found.user], {
      event: 'chat-request-updated',
      chat: chatId,
      title: chatName,
      body: status === 'accepted' ? `Your request to join ${chatName} was accepted` : `Your request to join ${chatName} was declined`,
    });
    return request;
  });
}
