// Events (supporting-api.md): POST /events creates the event and its group chat in one
// transaction, POST /events/:id/cancel, and the approval of event participants with
// POST /chats/:id/participants/:participantId/status (chats-api.txt, rulings.md 24-25).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, OBJECT_ID, settle, startApp, withDevices, type TestApp, type TestUser } from './helpers/app.js';
import { follow, group, oneToOne } from './chats-fixtures.js';
import { api, device, eventNames, pushes, received } from './communities-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;
const hours = (n: number) => new Date(Date.now() + n * 3600_000).toISOString();
const EVENT_KEYS = ['_id', 'chat', 'name', 'startsAt', 'endsAt', 'status', 'creator', 'createdAt', 'updatedAt'];

/** An event by `creator` with `invited` (followed first); returns {event, chat}. */
async function createEvent(creator: TestUser, invited: TestUser[] = [], extra: Record<string, unknown> = {}) {
  await follow(t, creator, ...invited);
  const res = await api(t, creator, 'POST', '/events', {
    name: 'Pool Party',
    startsAt: hours(1),
    endsAt: hours(3),
    participants: invited.map((u) => u.id),
    ...extra,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { event: any; chat: any };
}

async function participantOf(chatId: string, userId: string) {
  const [row] = await rows<{ id: string; status: string | null; isAdmin: boolean }>(
    db(),
    sql`select id, status, is_admin as "isAdmin" from participants where chat_id = ${chatId} and user_id = ${userId}`,
  );
  return row;
}

function setStatus(viewer: TestUser, chatId: string, participant: string, body: Record<string, unknown>) {
  return api(t, viewer, 'POST', `/chats/${chatId}/participants/${participant}/status`, body);
}

function post(user: TestUser, chatId: string, text = 'hello') {
  return api(t, user, 'POST', `/chats/${chatId}/messages`, { text });
}

describe('POST /events', () => {
  it('creates the event and its group chat in one go: 201 {event, chat}, rows, chat-created and pushes', async () => {
    const creator = await t.user();
    const invited = await t.user();
    await withDevices(t, creator, invited);
    const [asking, otherDevice] = [await device(t, creator), await device(t, creator)];
    const invitedDevice = await device(t, invited);
    await follow(t, creator, invited);
    const startsAt = hours(24);
    const endsAt = hours(26);

    const res = await api(t, creator, 'POST', '/events', {
      name: '  Pool Party  ',
      startsAt,
      endsAt,
      participants: [invited.id, invited.id, creator.id],
      socket: asking.id,
    });
    expect(res.statusCode, res.body).toBe(201);
    const { event, chat } = res.json();
    expect(Object.keys(res.json()).sort()).toEqual(['chat', 'event']);
    expect(Object.keys(event).sort()).toEqual([...EVENT_KEYS].sort());
    expect(event).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      chat: chat._id,
      name: 'Pool Party',
      startsAt,
      endsAt,
      status: 'active',
      creator: creator.id,
      createdAt: expect.stringMatching(ISO_DATE),
      updatedAt: event.createdAt,
    });
    // The chat document of POST /chats, with its event; category Event by default, not restricted.
    expect(chat).toMatchObject({
      _id: expect.stringMatching(OBJECT_ID),
      creator: creator.id,
      isGroup: true,
      category: 'Event',
      name: 'Pool Party',
      allowPublicPost: true,
      restricted: false,
      tags: [],
      event: event._id,
    });
    // The creator (admin) and the invited user, both accepted: an admin's choice needs no approval.
    expect(chat.participants).toHaveLength(2);
    expect(chat.participants).toContainEqual({
      user: creator.id, isAdmin: true, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE), status: 'accepted',
    });
    expect(chat.participants).toContainEqual({
      user: invited.id, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE), status: 'accepted',
    });

    const [row] = await rows<any>(
      db(),
      sql`select e.chat_id as "chatId", e.creator_id as "creatorId", e.status, iso(e.starts_at) as "startsAt",
                 iso(e.ends_at) as "endsAt", c.event_id as "eventId", c.participants_count as "participantsCount"
          from events e join chats c on c.id = e.chat_id where e.id = ${event._id}`,
    );
    expect(row).toEqual({
      chatId: chat._id, creatorId: creator.id, status: 'active', startsAt, endsAt, eventId: event._id, participantsCount: 2,
    });

    expect(await received(otherDevice, 'chat-created')).toEqual({ chat });
    expect(await received(invitedDevice, 'chat-created')).toEqual({ chat });
    await settle();
    expect(eventNames(asking)).toEqual([]);
    expect(await pushes(t, invited.id, 'chat-created')).toEqual([
      { event: 'chat-created', chatId: chat._id, title: 'Pool Party', body: `${creator.name} invited you to Pool Party` },
    ]);
    expect(await pushes(t, creator.id, 'chat-created')).toEqual([]);

    // The creator posts at once; the chat is in both users' lists.
    expect((await post(creator, chat._id)).statusCode).toBe(201);
    const list = await api(t, invited, 'GET', '/chats');
    expect(list.json().chats.map((c: any) => c._id)).toContain(chat._id);
  });

  it('may start with its creator alone, in another configured category, restricted', async () => {
    const creator = await t.user();
    const { event, chat } = await createEvent(creator, [], { category: 'Party', restricted: true, participants: undefined });
    expect(chat).toMatchObject({ category: 'Party', restricted: true, event: event._id });
    expect(chat.participants).toHaveLength(1);
    // Courses is never restricted (chats-api.txt).
    const courses = await createEvent(creator, [], { category: 'Courses', restricted: true });
    expect(courses.chat.restricted).toBe(false);
  });

  it('answers 400 for bad input naming the field, 403/404 for participants, 401 without a token', async () => {
    const creator = await t.user();
    const stranger = await t.user();
    const base = { name: 'Party', startsAt: hours(1), endsAt: hours(2) };
    for (const [body, field] of [
      [{ ...base, endsAt: base.startsAt }, 'endsAt'],
      [{ ...base, endsAt: hours(0.5) }, 'endsAt'],
      [{ ...base, startsAt: 'tomorrow' }, 'startsAt'],
      [{ ...base, endsAt: undefined }, 'endsAt'],
      [{ ...base, name: '' }, 'name'],
      [{ ...base, name: '   ' }, 'name'],
      [{ ...base, name: 'x'.repeat(101) }, 'name'],
      [{ ...base, category: 'Cooking' }, 'category'],
      [{ ...base, participants: ['nope'] }, 'participants.0'],
      [{ ...base, restricted: 'yes' }, 'restricted'],
      [{ ...base, socket: 'bad socket!' }, 'socket'],
      [{ ...base, location: 'Pool' }, 'location'],
    ] as const) {
      const res = await api(t, creator, 'POST', '/events', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    const notFollowed = await api(t, creator, 'POST', '/events', { ...base, participants: [stranger.id] });
    expect(notFollowed.statusCode).toBe(403);
    expect(notFollowed.json()).toMatchObject({ code: 'NOT_FOLLOWED', users: [stranger.id] });
    const unknown = newId();
    const missing = await api(t, creator, 'POST', '/events', { ...base, participants: [unknown] });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'USER_NOT_FOUND', users: [unknown] });
    expect((await api(t, null, 'POST', '/events', base)).statusCode).toBe(401);
    // Nothing of the refused requests was written.
    const [{ n }] = await rows<{ n: number }>(db(), sql`select count(*)::int as n from events where creator_id = ${creator.id}`);
    expect(n).toBe(0);
  });
});

describe('event participants: pending on join, approved by an admin', () => {
  it('a joiner is pending and cannot post; accepted they post; every side is told', async () => {
    const creator = await t.user();
    const member = await t.user();
    const joiner = await t.user();
    await withDevices(t, creator, member, joiner);
    const { chat } = await createEvent(creator, [member]);
    const joined = await api(t, joiner, 'POST', `/chats/${chat._id}/participants`);
    expect(joined.statusCode).toBe(201);
    expect(joined.json().participant.status).toBe('pending');
    const refused = await post(joiner, chat._id);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('POSTING_NOT_ALLOWED');

    const [asking, adminOther] = [await device(t, creator), await device(t, creator)];
    const [joinerDevice, memberDevice] = [await device(t, joiner), await device(t, member)];
    const participantId = joined.json().participant._id;
    const res = await setStatus(creator, chat._id, participantId, { status: 'accepted', socket: asking.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json())).toEqual(['participant']);
    const participant = res.json().participant;
    expect(participant).toEqual({
      user: joiner.id,
      _id: participantId,
      lastReadAt: joined.json().participant.lastReadAt,
      status: 'accepted',
    });
    expect((await participantOf(chat._id, joiner.id)).status).toBe('accepted');

    expect(await received(joinerDevice, 'participant-status-updated')).toEqual({ chat: chat._id, participant });
    const updated = await received(memberDevice, 'chat-updated');
    expect(updated.chat.participants).toContainEqual(participant);
    expect(await received(adminOther, 'chat-updated')).toEqual(updated);
    await settle();
    expect(eventNames(asking)).toEqual([]);
    expect(eventNames(joinerDevice)).toEqual(['participant-status-updated']);
    expect(await pushes(t, joiner.id, 'participant-status-updated')).toEqual([
      { event: 'participant-status-updated', chatId: chat._id, title: 'Pool Party', body: 'Your participation in Pool Party was accepted' },
    ]);
    expect((await post(joiner, chat._id)).statusCode).toBe(201);

    // Setting the status it has changes and tells nothing.
    const again = await setStatus(creator, chat._id, joiner.id, { status: 'accepted' });
    expect(again.statusCode).toBe(200);
    // (lastReadAt moved with the joiner's own message)
    expect(again.json().participant).toEqual({ ...participant, lastReadAt: expect.stringMatching(ISO_DATE) });
    await settle();
    expect(eventNames(joinerDevice).filter((e) => e === 'participant-status-updated')).toHaveLength(1);

    // Rejected (by user id, rulings.md 24): cannot post any more.
    const rejected = await setStatus(creator, chat._id, joiner.id, { status: 'rejected' });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json().participant.status).toBe('rejected');
    expect((await post(joiner, chat._id)).statusCode).toBe(403);
    expect((await pushes(t, joiner.id, 'participant-status-updated')).map((p) => p.body)).toEqual([
      'Your participation in Pool Party was accepted',
      'Your participation in Pool Party was declined',
    ]);
  });

  it('answers 403 EVENT_NOT_ACTIVE once the event is cancelled or over', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const { event, chat } = await createEvent(creator);
    const joined = await api(t, joiner, 'POST', `/chats/${chat._id}/participants`);
    expect((await api(t, creator, 'POST', `/events/${event._id}/cancel`)).statusCode).toBe(200);
    const cancelled = await setStatus(creator, chat._id, joined.json().participant._id, { status: 'accepted' });
    expect(cancelled.statusCode).toBe(403);
    expect(cancelled.json().code).toBe('EVENT_NOT_ACTIVE');

    const past = await createEvent(creator, [], { startsAt: hours(-5), endsAt: hours(-1) });
    // supporting-api.md: not active once endsAt has passed, and its status says so.
    expect(past.event.status).toBe('ended');
    expect((await api(t, joiner, 'POST', `/chats/${past.chat._id}/participants`)).statusCode).toBe(201);
    const over = await setStatus(creator, past.chat._id, joiner.id, { status: 'accepted' });
    expect(over.statusCode).toBe(403);
    expect(over.json().code).toBe('EVENT_NOT_ACTIVE');
    expect((await participantOf(past.chat._id, joiner.id)).status).toBe('pending');
    // An ended event may still be cancelled, and then shows it.
    const cancelledPast = await api(t, creator, 'POST', `/events/${past.event._id}/cancel`);
    expect(cancelledPast.json().event.status).toBe('cancelled');
  });

  it('answers 403 NOT_AN_ADMIN / NOT_A_PARTICIPANT, 400 NOT_AN_EVENT_CHAT / NOT_A_GROUP, 404s and 400s', async () => {
    const creator = await t.user();
    const member = await t.user();
    const joiner = await t.user();
    const outsider = await t.user();
    const { chat } = await createEvent(creator, [member]);
    await api(t, joiner, 'POST', `/chats/${chat._id}/participants`);

    const byMember = await setStatus(member, chat._id, joiner.id, { status: 'accepted' });
    expect(byMember.statusCode).toBe(403);
    expect(byMember.json().code).toBe('NOT_AN_ADMIN');
    const byOutsider = await setStatus(outsider, chat._id, joiner.id, { status: 'accepted' });
    expect(byOutsider.statusCode).toBe(403);
    expect(byOutsider.json().code).toBe('NOT_A_PARTICIPANT');
    const noSuch = await setStatus(creator, chat._id, outsider.id, { status: 'accepted' });
    expect(noSuch.statusCode).toBe(404);
    expect(noSuch.json().code).toBe('PARTICIPANT_NOT_FOUND');
    const noChat = await setStatus(creator, newId(), joiner.id, { status: 'accepted' });
    expect(noChat.statusCode).toBe(404);
    expect(noChat.json().code).toBe('CHAT_NOT_FOUND');

    const plain = await group(t, creator, [member]);
    const notEvent = await setStatus(creator, plain._id, member.id, { status: 'accepted' });
    expect(notEvent.statusCode).toBe(400);
    expect(notEvent.json().code).toBe('NOT_AN_EVENT_CHAT');
    const direct = await oneToOne(t, creator, member);
    const notGroup = await setStatus(creator, direct._id, member.id, { status: 'accepted' });
    expect(notGroup.statusCode).toBe(400);
    expect(notGroup.json().code).toBe('NOT_A_GROUP');

    for (const [url, body, field] of [
      [`/chats/${chat._id}/participants/${joiner.id}/status`, { status: 'maybe' }, 'status'],
      [`/chats/${chat._id}/participants/${joiner.id}/status`, {}, 'status'],
      [`/chats/${chat._id}/participants/${joiner.id}/status`, { status: 'accepted', extra: 1 }, 'extra'],
      [`/chats/${chat._id}/participants/${joiner.id}/status`, { status: 'accepted', socket: 'x' }, 'socket'],
      [`/chats/nope/participants/${joiner.id}/status`, { status: 'accepted' }, 'id'],
      [`/chats/${chat._id}/participants/nope/status`, { status: 'accepted' }, 'participantId'],
    ] as const) {
      const res = await api(t, creator, 'POST', url, body);
      expect(res.statusCode, url + JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    expect((await participantOf(chat._id, joiner.id)).status).toBe('pending');
  });
});

describe('POST /events/:id/cancel', () => {
  it('an admin cancels: {event} cancelled, chat-updated to the participants but the requesting socket', async () => {
    const creator = await t.user();
    const member = await t.user();
    const { event, chat } = await createEvent(creator, [member]);
    const [asking, otherDevice] = [await device(t, creator), await device(t, creator)];
    const memberDevice = await device(t, member);

    const res = await api(t, creator, 'POST', `/events/${event._id}/cancel`, { socket: asking.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json())).toEqual(['event']);
    const cancelled = res.json().event;
    expect(cancelled).toEqual({ ...event, status: 'cancelled', updatedAt: expect.stringMatching(ISO_DATE) });
    expect(cancelled.updatedAt >= event.updatedAt).toBe(true);
    const [row] = await rows<{ status: string }>(db(), sql`select status from events where id = ${event._id}`);
    expect(row.status).toBe('cancelled');

    const updated = await received(memberDevice, 'chat-updated');
    expect(updated.chat).toMatchObject({ _id: chat._id, event: event._id });
    expect(await received(otherDevice, 'chat-updated')).toEqual(updated);
    await settle();
    expect(eventNames(asking)).toEqual([]);

    // Cancelling again answers the cancelled event and tells nobody.
    const again = await api(t, creator, 'POST', `/events/${event._id}/cancel`);
    expect(again.statusCode).toBe(200);
    expect(again.json().event).toEqual(cancelled);
    await settle();
    expect(eventNames(memberDevice)).toEqual(['chat-updated']);
  });

  it('answers 403 NOT_AN_ADMIN, 403 NOT_A_PARTICIPANT, 404 EVENT_NOT_FOUND, 400 for a bad id', async () => {
    const creator = await t.user();
    const member = await t.user();
    const { event } = await createEvent(creator, [member]);
    const byMember = await api(t, member, 'POST', `/events/${event._id}/cancel`);
    expect(byMember.statusCode).toBe(403);
    expect(byMember.json().code).toBe('NOT_AN_ADMIN');
    const byOutsider = await api(t, await t.user(), 'POST', `/events/${event._id}/cancel`);
    expect(byOutsider.statusCode).toBe(403);
    expect(byOutsider.json().code).toBe('NOT_A_PARTICIPANT');
    const missing = await api(t, creator, 'POST', `/events/${newId()}/cancel`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('EVENT_NOT_FOUND');
    const bad = await api(t, creator, 'POST', '/events/123/cancel');
    expect(bad.statusCode).toBe(400);
    const [row] = await rows<{ status: string }>(db(), sql`select status from events where id = ${event._id}`);
    expect(row.status).toBe('active');
  });

  it('deleting the chat deletes its event', async () => {
    const creator = await t.user();
    const { event, chat } = await createEvent(creator, [await t.user()]);
    expect((await api(t, creator, 'DELETE', `/chats/${chat._id}`)).statusCode).toBe(200);
    expect(await rows(db(), sql`select 1 from events where id = ${event._id}`)).toEqual([]);
    expect((await api(t, creator, 'POST', `/events/${event._id}/cancel`)).statusCode).toBe(404);
  });
});
