// SQL of events and of the event participants' status.
import { one, sql, type Db } from '../db/client.js';
import type { ParticipantRow } from '../participants/queries.js';
import type { Event } from './view.js';

// `status` as a client reads it, the one place the rule is written (supporting-api.md: active =
// not cancelled and endsAt in the future, by the database clock): an event past its end shows
// `ended`; the stored status is only active or cancelled.
const eventJson = sql`jsonb_build_object('_id', e.id, 'chat', e.chat_id, 'name', e.name,
  'startsAt', iso(e.starts_at), 'endsAt', iso(e.ends_at),
  'status', case when e.status = 'active' and e.ends_at <= now() then 'ended' else e.status end, 'creator', e.creator_id,
  'createdAt', iso(e.created_at), 'updatedAt', iso(e.updated_at))`;

export interface EventRow {
  id: string;
  chatId: string;
  /** Its `status` says whether it is active, cancelled or ended. */
  event: Event;
}

export function findEvent(db: Db, eventId: string): Promise<EventRow | undefined> {
  return one<EventRow>(
    db,
    sql`select e.id, e.chat_id as "chatId", ${eventJson} as event
        from events e where e.id = ${eventId}`,
  );
}

export async function insertEvent(
  tx: Db,
  event: { id: string; chatId: string; creatorId: string; name: string; startsAt: string; endsAt: string },
): Promise<Event> {
  const row = await one<{ event: Event }>(
    tx,
    sql`insert into events as e (id, chat_id, creator_id, name, starts_at, ends_at)
        values (${event.id}, ${event.chatId}, ${event.creatorId}, ${event.name},
                ${event.startsAt}::timestamptz, ${event.endsAt}::timestamptz)
        returning ${eventJson} as event`,
  );
  return row!.event;
}

/**
 * Makes the chat created in this transaction the event's chat: chats.event_id is set, and its
 * first participants (the creator and whom they invited) are accepted, as an admin's own choice
 * needs no second decision (rulings.md 25's pending is for users who join by themselves).
 */
export async function linkEventChat(tx: Db, chatId: string, eventId: string): Promise<void> {
  await tx.execute(sql`update chats set event_id = ${eventId} where id = ${chatId}`);
  await tx.execute(sql`update participants set status = 'accepted' where chat_id = ${chatId}`);
}

export async function cancelEvent(tx: Db, eventId: string): Promise<Event> {
  const row = await one<{ event: Event }>(
    tx,
    sql`update events e set status = 'cancelled', updated_at = now() where e.id = ${eventId} returning ${eventJson} as event`,
  );
  return row!.event;
}

export async function setParticipantStatus(
  tx: Db,
  participantId: string,
  status: 'accepted' | 'rejected',
): Promise<ParticipantRow> {
  return (await one<ParticipantRow>(
    tx,
    sql`update participants set status = ${status} where id = ${participantId}
        returning id, user_id as "userId", is_admin as "isAdmin", status, iso(last_read_at) as "lastReadAt"`,
  ))!;
}
