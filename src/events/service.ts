// Events and the approval of their participants: POST /events, POST /events/:id/cancel
// (supporting-api.md) and POST /chats/:id/participants/:participantId/status (chats-api.txt,
// rulings.md 24-25).
import * as chats from '../chats/queries.js';
import { prepareGroup, translateMissingUser } from '../chats/service.js';
import { chatDocument, loadChat, requireParticipant, type ChatDocument, type ParticipantDocument } from '../chats/view.js';
import type { Db } from '../db/client.js';
import { touchChat } from '../messages/activity.js';
import * as participants from '../participants/queries.js';
import type { Deps } from '../shared/deps.js';
import { transaction, type Effects } from '../shared/effects.js';
import { AppError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import * as q from './queries.js';
import type { Event } from './view.js';

/** supporting-api.md: an event's chat has the category `Event` unless another is given. */
const EVENT_CATEGORY = 'Event';

export interface CreateEventInput {
  name: string;
  startsAt: string;
  endsAt: string;
  category?: string;
  restricted?: boolean;
  participants?: string[];
  socket?: string;
}

/**
 * POST /events: the event and its group chat in one transaction. The chat follows POST /chats'
 * rules for a group (rulings.md 21: category configured, participants reachable, the creator an
 * admin; Courses never restricted) except that participants may be left out. An event may be
 * created with dates in the past: it is simply not active (its participants cannot be approved)
 * and shows status `ended`.
 */
export async function createEvent(
  deps: Deps,
  viewerId: string,
  input: CreateEventInput,
): Promise<{ event: Event; chat: ChatDocument }> {
  if (Date.parse(input.endsAt) <= Date.parse(input.startsAt)) {
    throw new AppError('VALIDATION_FAILED', 'endsAt must be later than startsAt', { field: 'endsAt' });
  }
  const group = await prepareGroup(
    deps,
    viewerId,
    {
      isGroup: true,
      name: input.name,
      category: input.category ?? EVENT_CATEGORY,
      participants: input.participants,
      restricted: input.restricted,
    },
    { participantsRequired: false },
  );

  return transaction(deps, async (tx, effects) => {
    const chatId = newId();
    const eventId = newId();
    await chats
      .insertGroupChat(tx, {
        id: chatId,
        creatorId: viewerId,
        name: group.name,
        category: group.category,
        tags: group.tags,
        restricted: group.restricted,
        allowPublicPost: group.allowPublicPost,
        participants: [
          ...group.others.map((userId) => ({ id: newId(), userId, isAdmin: false })),
          // rulings.md 13: the creator is an admin participant.
          { id: newId(), userId: viewerId, isAdmin: true },
        ],
      })
      .catch(translateMissingUser);
    const event = await q.insertEvent(tx, {
      id: eventId,
      chatId,
      creatorId: viewerId,
      name: group.name,
      startsAt: input.startsAt,
      endsAt: input.endsAt,
    });
    await q.linkEventChat(tx, chatId, eventId);
    const chat = (await chatDocument(tx, chatId))!;
    // rulings.md 22, as for POST /chats: chat-created to every participant (not the requesting
    // socket), a push to every invited participant.
    effects.emit([viewerId, ...group.others], 'chat-created', { chat }, input.socket);
    effects.push(group.others, {
      event: 'chat-created',
      chat: chatId,
      title: group.name,
      body: `${group.creator.name} invited you to ${group.name}`,
    });
    return { event, chat };
  });
}

async function requireEvent(db: Db, eventId: string): Promise<q.EventRow> {
  const event = await q.findEvent(db, eventId);
  if (!event) throw new AppError('EVENT_NOT_FOUND', 'No such event');
  return event;
}

/** chat-updated {chat} to the chat's participants but `exceptUsers` (rulings.md 27). */
async function emitChatUpdated(tx: Db, effects: Effects, chatId: string, exceptUsers: string[], socket?: string) {
  const chat = await chatDocument(tx, chatId);
  const skip = new Set(exceptUsers);
  const others = (chat?.participants ?? []).map((p) => p.user).filter((id) => !skip.has(id));
  effects.emit(others, 'chat-updated', { chat }, socket);
}

/**
 * POST /events/:id/cancel: an admin of the event's chat only. Cancelling a cancelled event answers
 * it as it is and notifies nobody. The chat row is locked first, as every membership route does,
 * so no participant is approved while the event is being cancelled.
 */
export async function cancelEvent(deps: Deps, viewerId: string, eventId: string, socket?: string): Promise<Event> {
  return transaction(deps, async (tx, effects) => {
    const found = await requireEvent(tx, eventId);
    await loadChat(tx, found.chatId, { forUpdate: true });
    const me = await requireParticipant(tx, found.chatId, viewerId);
    if (!me.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of the event chat can cancel the event');
    const current = await requireEvent(tx, eventId);
    if (current.event.status === 'cancelled') return current.event;
    const event = await q.cancelEvent(tx, eventId);
    await emitChatUpdated(tx, effects, found.chatId, [], socket);
    return event;
  });
}

/**
 * POST /chats/:id/participants/:participantId/status. The checks in the spec's order: the chat
 * (404), the viewer in it (403), a group (400), with an event (400 NOT_AN_EVENT_CHAT), the viewer
 * an admin (403), the event active (403 EVENT_NOT_ACTIVE, rulings.md 25), the participant (404,
 * its _id or user id: rulings.md 24). Setting the status it already has changes and notifies
 * nothing. Otherwise the participant is told by socket and push (participant-status-updated) and
 * the other participants get chat-updated (rulings.md 27), the requesting socket neither.
 */
export async function setParticipantStatus(
  deps: Deps,
  viewerId: string,
  chatId: string,
  participantRef: string,
  status: 'accepted' | 'rejected',
  socket?: string,
): Promise<ParticipantDocument> {
  return transaction(deps, async (tx, effects) => {
    const chat = await loadChat(tx, chatId, { forUpdate: true });
    const me = await requireParticipant(tx, chatId, viewerId);
    if (!chat.isGroup) throw new AppError('NOT_A_GROUP', 'This is not a group chat');
    const event = chat.eventId ? await q.findEvent(tx, chat.eventId) : undefined;
    if (!event) throw new AppError('NOT_AN_EVENT_CHAT', 'This chat has no event');
    if (!me.isAdmin) throw new AppError('NOT_AN_ADMIN', 'Only an admin of the event chat can set participant status');
    if (event.event.status !== 'active') throw new AppError('EVENT_NOT_ACTIVE', 'The event is cancelled or over');
    const target = await participants.findParticipant(tx, chatId, participantRef);
    if (!target) {
      throw new AppError('PARTICIPANT_NOT_FOUND', 'No such participant in this chat', { field: 'participantId' });
    }
    if (target.status === status) return participants.toParticipant(target);

    const participant = participants.toParticipant(await q.setParticipantStatus(tx, target.id, status));
    await touchChat(deps, tx, effects, chatId, 0);
    effects.emit([target.userId], 'participant-status-updated', { chat: chatId, participant }, socket);
    const chatName = chat.name ?? 'the event chat';
    effects.push([target.userId], {
      event: 'participant-status-updated',
      chat: chatId,
      title: chatName,
      body: `Your participation in ${chatName} was ${status === 'accepted' ? 'accepted' : 'declined'}`,
    });
    await emitChatUpdated(tx, effects, chatId, [target.userId], socket);
    return participant;
  });
}
