// The participant routes of chats-api.txt (join, add many, remove, admin grant/revoke) with
// rulings.md 24-27. Every route locks the chat row first (loadChat forUpdate), so membership and
// role checks (already a participant, last admin) hold until commit.
import { chatDocument, loadChat, requireParticipant, type ParticipantDocument } from '../chats/view.js';
import type { Db } from '../db/client.js';
import { touchChat } from '../messages/activity.js';
import { awardScore } from '../score/service.js';
import type { Deps } from '../shared/deps.js';
import { transaction, type Effects } from '../shared/effects.js';
import { AppError, isUniqueViolation } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import * as users from '../users/queries.js';
import * as q from './queries.js';

type Chat = Awaited<ReturnType<typeof loadChat>>;

function requireGroup(chat: Chat) {
  if (!chat.isGroup) throw new AppError('NOT_A_GROUP', 'This is not a group chat');
}

async function requireTarget(tx: Db, chatId: string, participantId: string) {
  const target = await q.findParticipant(tx, chatId, participantId);
  if (!target) throw new AppError('PARTICIPANT_NOT_FOUND', 'No such participant in this chat', { field: 'participantId' });
  return target;
}

/** rulings.md 26: never leave the chat without an admin (the chat row is locked by the caller). */
async function requireAnotherAdmin(tx: Db, chatId: string) {
  if ((await q.countAdmins(tx, chatId)) <= 1) {
    throw new AppError('LAST_ADMIN', 'The chat must keep at least one admin');
  }
}

/**
 * rulings.md 27: the affected user gets the named event, every other participant gets
 * chat-updated {chat} (the chat document, after the change), the requesting socket neither.
 */
async function emitChatUpdated(tx: Db, effects: Effects, chatId: string, exceptUsers: string[], socket?: string) {
  const chat = await chatDocument(tx, chatId);
  const affected = new Set(exceptUsers);
  const others = (chat?.participants ?? []).map((p) => p.user).filter((id) => !affected.has(id));
  effects.emit(others, 'chat-updated', { chat }, socket);
  return chat;
}

/** POST /chats/:id/participants: the viewer joins a group chat. */
export async function join(deps: Deps, viewerId: string, chatId: string, socket?: string): Promise<ParticipantDocument> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    requireGroup(chat);
    if (await q.findParticipant(tx, chatId, viewerId)) {
      throw new AppError('ALREADY_PARTICIPANT', 'You are already a participant of this chat');
    }
    if (chat.creatorId !== viewerId && (await users.isBlockedEitherWay(tx, viewerId, chat.creatorId))) {
      throw new AppError('BLOCKED', 'You cannot join this chat');
    }
    // rulings.md 25: a restricted chat is joined through a join request instead.
    if (chat.restricted) throw new AppError('RESTRICTED', 'This chat is restricted: send a join request');

    // rulings.md 25: in an event chat the new participant waits for an admin's decision.
    return addParticipant(tx, effects, deps, chatId, viewerId, chat.eventId ? 'pending' : null, socket);
  });
}

/**
 * The user becomes a participant of the (locked) group chat: joining (POST /chats/:id/participants)
 * and an accepted join request (src/requests/) both go through here. The count and activity copies
 * follow, the join-group-chat score is awarded once per user and chat, the user gets chat-joined
 * and the other participants chat-updated (rulings.md 25, 27); `socket` is the requester's socket.
 */
export async function addParticipant(
  tx: Db,
  effects: Effects,
  deps: Deps,
  chatId: string,
  userId: string,
  status: q.ParticipantRow['status'],
  socket?: string,
): Promise<ParticipantDocument> {
  let row: q.ParticipantRow;
  try {
    row = await q.insertParticipant(tx, chatId, { id: newId(), userId, status });
  } catch (error) {
    // The unique (chat_id, user_id) index is the last word when two joins race.
    if (isUniqueViolation(error)) throw new AppError('ALREADY_PARTICIPANT', 'Already a participant of this chat');
    throw error;
  }
  await touchChat(deps, tx, effects, chatId, 1);
  await q.clearRemovals(tx, [userId], chatId);
  await awardScore(tx, effects, deps, userId, 'join-group-chat', chatId, socket);

  const document = await emitChatUpdated(tx, effects, chatId, [userId], socket);
  effects.emit([userId], 'chat-joined', { chat: document }, socket);
  return q.toParticipant(row);
}

/** POST /chats/:id/participants/multiple: an admin adds users; those already in are skipped. */
export async function addMany(
  deps: Deps,
  viewerId: string,
  chatId: string,
  userIds: string[],
  socket?: string,
): Promise<ParticipantDocument[]> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const viewer = await requireParticipant(tx, chatId, viewerId);
    requireGroup(chat);
    if (!viewer.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of this chat can add participants');

    const ids = [...new Set(userIds)].filter((id) => id !== viewerId);
    const known = await users.existingUserIds(tx, ids);
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('USER_NOT_FOUND', 'No such users', { field: 'participants', users: unknown });

    // Users already in the chat are filtered out before the other checks: adding them is a no-op.
    const current = new Set(await q.participantUserIds(tx, chatId));
    const candidates = ids.filter((id) => !current.has(id));
    const reachable = await users.reachableUserIds(tx, viewerId, candidates);
    const unreachable = candidates.filter((id) => !reachable.has(id));
    if (unreachable.length > 0) {
      throw new AppError('NOT_FOLLOWED', 'You can only add users you follow or are connected with', {
        field: 'participants',
        users: unreachable,
      });
    }
    // Not in the spec: nobody is pulled into a chat by a user they blocked or who blocked them.
    const blocked = await q.blockedEitherWay(tx, viewerId, candidates);
    if (blocked.length > 0) {
      throw new AppError('BLOCKED', 'You cannot add users you blocked or who blocked you', { field: 'participants', users: blocked });
    }

    // An admin's choice needs no second decision: added users of an event chat are accepted
    // (rulings.md 25's pending status is for users who join on their own).
    const added = await q.insertParticipants(
      tx,
      chatId,
      candidates.map((userId) => ({ id: newId(), userId })),
      chat.eventId ? 'accepted' : null,
    );
    if (added.length === 0) return [];
    const addedIds = added.map((p) => p.userId);
    await touchChat(deps, tx, effects, chatId, added.length);
    await q.clearRemovals(tx, addedIds, chatId);

    const document = await emitChatUpdated(tx, effects, chatId, addedIds, socket);
    effects.emit(addedIds, 'chat-joined', { chat: document }, socket);
    const adder = await users.findUser(tx, viewerId);
    const chatName = chat.name ?? 'a group chat';
    effects.push(addedIds, {
      event: 'chat-joined',
      chat: chatId,
      title: chatName,
      body: `${adder?.name ?? 'Someone'} added you to ${chatName}`,
    });
    return added.map(q.toParticipant);
  });
}

/** DELETE /chats/:id/participants/:participantId: leave, or an admin removes someone. */
export async function remove(deps: Deps, viewerId: string, chatId: string, participantId: string, socket?: string) {
  await transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const viewer = await requireParticipant(tx, chatId, viewerId);
    requireGroup(chat);
    const target = await requireTarget(tx, chatId, participantId);
    const leaving = target.userId === viewerId;
    // rulings.md 26: removing yourself needs no admin right.
    if (!leaving && !viewer.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of this chat can remove participants');
    if (target.isAdmin) await requireAnotherAdmin(tx, chatId);

    await q.deleteParticipant(tx, target.id);
    await touchChat(deps, tx, effects, chatId, -1);
    await q.recordRemoval(tx, target.userId, chatId);

    const remaining = await q.participantUserIds(tx, chatId);
    // supporting-api.md: {chat: id, participant}: the participant as it was, in the shape the admin
    // events carry it (the table marks bare ids with `: id`).
    const participant = q.toParticipant(target);
    effects.emit([...remaining, target.userId], 'chat-participant-removed', { chat: chatId, participant }, socket);
    if (!leaving) {
      // chats-api.txt: "If done by other admin, FCM Push notify this participant".
      effects.emit([target.userId], 'chat-access-removed', { chat: chatId }, socket);
      const remover = await users.findUser(tx, viewerId);
      const chatName = chat.name ?? 'a group chat';
      effects.push([target.userId], {
        event: 'chat-access-removed',
        chat: chatId,
        title: chatName,
        body: `${remover?.name ?? 'An admin'} removed you from ${chatName}`,
      });
    }
    await emitChatUpdated(tx, effects, chatId, [target.userId], socket);
  });
}

/** POST / DELETE /chats/:id/participants/:participantId/admin. */
export async function setAdmin(
  deps: Deps,
  viewerId: string,
  chatId: string,
  participantId: string,
  isAdmin: boolean,
  socket?: string,
): Promise<ParticipantDocument> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const viewer = await requireParticipant(tx, chatId, viewerId);
    requireGroup(chat);
    if (!viewer.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of this chat can change admin rights');
    const target = await requireTarget(tx, chatId, participantId);
    if (!isAdmin && target.userId === viewerId) {
      // chats-api.txt: "User can't remove its own admin access": a rule that forbids, so 403
      // (rulings.md 4); leaving the chat is how an admin gives up the role.
      throw new AppError('CANNOT_REMOVE_OWN_ADMIN', "You can't remove your own admin access");
    }
    // Granting to an admin or revoking from a non-admin changes nothing: answer, emit nothing.
    if (target.isAdmin === isAdmin) return q.toParticipant(target);
    if (!isAdmin) await requireAnotherAdmin(tx, chatId);

    const participant = q.toParticipant(await q.setAdmin(tx, target.id, isAdmin));
    await touchChat(deps, tx, effects, chatId, 0);
    const event = isAdmin ? 'chat-admin-access-granted' : 'chat-admin-access-removed';
    effects.emit([target.userId], event, { chat: chatId, participant }, socket);
    await emitChatUpdated(tx, effects, chatId, [target.userId], socket);
    return participant;
  });
}
