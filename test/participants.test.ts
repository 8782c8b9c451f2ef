// The participant routes of chats-api.txt with rulings.md 24-27: join, add many, remove, admin
// grant/revoke. Black-box through the real app, real sockets (two per user where a `socket` is
// given, to prove the requesting one gets nothing), and the rows afterwards.
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, OBJECT_ID, settle, startApp, withDevices, type TestApp, type TestUser } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;

function api(user: TestUser | null, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url,
    headers: user ? user.auth : {},
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
}

async function follow(follower: TestUser, followee: TestUser) {
  const res = await api(follower, 'POST', `/users/${followee.id}/follow`);
  expect(res.statusCode).toBe(200);
}

interface GroupOptions {
  restricted?: boolean;
  /** An event chat (chats.event_id set): joiners start pending (rulings.md 25). */
  event?: boolean;
  admins?: TestUser[];
}

/** A group chat created through POST /chats by `creator` with `members` (the creator follows them). */
async function groupChat(creator: TestUser, members: TestUser[], options: GroupOptions = {}): Promise<string> {
  for (const m of members) await follow(creator, m);
  const res = await api(creator, 'POST', '/chats', {
    isGroup: true,
    name: `Group ${newId().slice(-6)}`,
    category: 'Study',
    participants: members.map((m) => m.id),
    restricted: options.restricted ?? false,
  });
  expect(res.statusCode).toBe(201);
  const chatId: string = res.json().chat._id;
  if (options.event) await db().execute(sql`update chats set event_id = ${newId()} where id = ${chatId}`);
  for (const admin of options.admins ?? []) {
    await db().execute(sql`update participants set is_admin = true where chat_id = ${chatId} and user_id = ${admin.id}`);
  }
  return chatId;
}

async function oneToOne(a: TestUser, b: TestUser): Promise<string> {
  await follow(a, b);
  const res = await api(a, 'POST', '/chats', { user: b.id });
  expect(res.statusCode).toBe(201);
  return res.json().chat._id;
}

interface Device {
  socket: Socket;
  id: string;
  events: { event: string; payload: any }[];
}

/** A connected socket of the user that records every event it receives. */
async function device(user: TestUser): Promise<Device> {
  const socket = await t.socket(user);
  const events: Device['events'] = [];
  socket.onAny((event: string, payload: unknown) => events.push({ event, payload }));
  return { socket, id: socket.id!, events };
}

/** The payload of the first `event` the device got, waiting up to `ms` for it. */
async function received(d: Device, event: string, ms = 3000): Promise<any> {
  const until = Date.now() + ms;
  for (;;) {
    const found = d.events.find((e) => e.event === event);
    if (found) return found.payload;
    if (Date.now() > until) throw new Error(`no ${event}; got ${d.events.map((e) => e.event).join(', ')}`);
    await settle(20);
  }
}

const CHAT_EVENTS = new Set([
  'chat-joined',
  'chat-updated',
  'chat-participant-removed',
  'chat-access-removed',
  'chat-admin-access-granted',
  'chat-admin-access-removed',
  'score-updated',
]);
const chatEvents = (d: Device) => d.events.map((e) => e.event).filter((e) => CHAT_EVENTS.has(e));

async function participantRows(chatId: string) {
  return rows<{
    id: string;
    userId: string;
    isAdmin: boolean;
    status: string | null;
    isGroup: boolean;
    lastReadAt: string;
    joinedAt: string;
    activityAt: string;
  }>(
    db(),
    sql`select id, user_id as "userId", is_admin as "isAdmin", status, is_group as "isGroup",
               iso(last_read_at) as "lastReadAt", iso(joined_at) as "joinedAt", iso(activity_at) as "activityAt"
        from participants where chat_id = ${chatId} order by joined_at, id`,
  );
}

async function chatRow(chatId: string) {
  return (
    await rows<{ participantsCount: number; updatedAt: string; activity: string }>(
      db(),
      sql`select participants_count as "participantsCount", iso(updated_at) as "updatedAt",
                 iso(coalesce(last_message_at, updated_at)) as activity
          from chats where id = ${chatId}`,
    )
  )[0];
}

/** Denormalized copies stay true (src/db/schema.ts): count, is_group, activity_at. */
async function expectDenormalized(chatId: string) {
  const chat = await chatRow(chatId);
  const ps = await participantRows(chatId);
  expect(chat.participantsCount).toBe(ps.length);
  for (const p of ps) {
    expect(p.isGroup).toBe(true);
    expect(p.activityAt).toBe(chat.activity);
  }
}

/** Push outbox rows of the participant events (POST /chats itself pushes chat-created). */
async function pushes(userId: string, chatId: string) {
  return rows<{ event: string; title: string; body: string }>(
    db(),
    sql`select event, title, body from push_outbox where user_id = ${userId} and chat_id = ${chatId}
        and event <> 'chat-created' order by id`,
  );
}

async function scoreOf(userId: string) {
  const [user] = await rows<{ score: number }>(db(), sql`select score from users where id = ${userId}`);
  const actions = await rows<{ action: string; points: number; ref: string }>(
    db(),
    sql`select action, points, ref from score_actions where user_id = ${userId} order by at, id`,
  );
  const once = await rows<{ action: string; ref: string }>(
    db(),
    sql`select action, ref from score_once where user_id = ${userId}`,
  );
  return { score: user.score, actions, once };
}

async function removals(userId: string, chatId: string) {
  return rows(db(), sql`select 1 from chat_removals where user_id = ${userId} and chat_id = ${chatId}`);
}

const PARTICIPANT_KEYS = ['_id', 'lastReadAt', 'user'];

describe('POST /chats/:id/participants (join)', () => {
  it('joins an open group: 201 {participant}, rows, chat-joined, chat-updated and score-updated', async () => {
    const creator = await t.user();
    const member = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [member]);
    const before = await chatRow(chatId);
    const [joinerAsking, joinerOther] = [await device(joiner), await device(joiner)];
    const creatorDevice = await device(creator);
    const memberDevice = await device(member);
    await settle(50);

    const res = await api(joiner, 'POST', `/chats/${chatId}/participants`, { socket: joinerAsking.id });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['participant']);
    expect(Object.keys(body.participant).sort()).toEqual(PARTICIPANT_KEYS);
    expect(body.participant).toEqual({
      user: joiner.id,
      _id: expect.stringMatching(OBJECT_ID),
      lastReadAt: expect.stringMatching(ISO_DATE),
    });

    const ps = await participantRows(chatId);
    const row = ps.find((p) => p.userId === joiner.id)!;
    expect(row).toMatchObject({ id: body.participant._id, isAdmin: false, status: null, lastReadAt: body.participant.lastReadAt });
    expect(row.joinedAt).toBe(row.lastReadAt);
    const after = await chatRow(chatId);
    expect(after.participantsCount).toBe(3);
    expect(after.updatedAt >= before.updatedAt).toBe(true);
    await expectDenormalized(chatId);

    // chat-joined {chat: chat document} to the joiner's other socket, never the requesting one.
    const joined = await received(joinerOther, 'chat-joined');
    expect(joined.chat).toMatchObject({ _id: chatId, isGroup: true, creator: creator.id, updatedAt: after.updatedAt });
    expect(joined.chat.participants).toContainEqual(body.participant);
    expect(joined.chat.participants).toHaveLength(3);
    // rulings.md 27: the other participants get chat-updated with the same document.
    for (const d of [creatorDevice, memberDevice]) {
      const updated = await received(d, 'chat-updated');
      expect(updated).toEqual({ chat: joined.chat });
    }
    // score: join-group-chat, 5 points, to the joiner's other socket.
    expect(await received(joinerOther, 'score-updated')).toEqual({ score: 5, action: 'join-group-chat', points: 5 });
    await settle();
    expect(chatEvents(joinerAsking)).toEqual([]);
    expect(chatEvents(joinerOther).sort()).toEqual(['chat-joined', 'score-updated']);
    expect(chatEvents(creatorDevice)).toEqual(['chat-updated']);
    expect(chatEvents(memberDevice)).toEqual(['chat-updated']);

    expect(await scoreOf(joiner.id)).toEqual({
      score: 5,
      actions: [{ action: 'join-group-chat', points: 5, ref: chatId }],
      once: [{ action: 'join-group-chat', ref: chatId }],
    });
    expect(await pushes(joiner.id, chatId)).toEqual([]);

    // The joiner now sees the chat as a participant.
    const view = await api(joiner, 'GET', `/chats/${chatId}`);
    expect(view.statusCode).toBe(200);
    expect(view.json().chat).toMatchObject({ participantsCount: 3, isJoined: true, areYouAdmin: false });
  });

  it('without a body, every socket of the joiner gets chat-joined', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [await t.user()]);
    const [a, b] = [await device(joiner), await device(joiner)];
    const res = await api(joiner, 'POST', `/chats/${chatId}/participants`);
    expect(res.statusCode).toBe(201);
    await received(a, 'chat-joined');
    await received(b, 'chat-joined');
    await received(a, 'score-updated');
  });

  it('awards join-group-chat once per user and chat: leaving and joining again gives nothing more', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [await t.user()]);
    const otherChat = await groupChat(creator, [await t.user()]);
    const first = await api(joiner, 'POST', `/chats/${chatId}/participants`);
    expect(first.statusCode).toBe(201);
    const leave = await api(joiner, 'DELETE', `/chats/${chatId}/participants/${joiner.id}`);
    expect(leave.statusCode).toBe(200);
    expect(await removals(joiner.id, chatId)).toHaveLength(1);

    const d = await device(joiner);
    const again = await api(joiner, 'POST', `/chats/${chatId}/participants`);
    expect(again.statusCode).toBe(201);
    expect(again.json().participant._id).not.toBe(first.json().participant._id);
    await received(d, 'chat-joined');
    await settle();
    expect(chatEvents(d)).toEqual(['chat-joined']);
    expect((await scoreOf(joiner.id)).score).toBe(5);
    // A rejoin clears the removal: the chat is back in the user's list.
    expect(await removals(joiner.id, chatId)).toHaveLength(0);

    // Another chat is another award.
    expect((await api(joiner, 'POST', `/chats/${otherChat}/participants`)).statusCode).toBe(201);
    const score = await scoreOf(joiner.id);
    expect(score.score).toBe(10);
    expect(score.actions.map((a) => a.ref)).toEqual([chatId, otherChat]);
    await expectDenormalized(chatId);
  });

  it('in an event chat the new participant is pending (rulings.md 25)', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [await t.user()], { event: true });
    const res = await api(joiner, 'POST', `/chats/${chatId}/participants`);
    expect(res.statusCode).toBe(201);
    expect(res.json().participant).toEqual({
      user: joiner.id,
      _id: expect.stringMatching(OBJECT_ID),
      lastReadAt: expect.stringMatching(ISO_DATE),
      status: 'pending',
    });
    const row = (await participantRows(chatId)).find((p) => p.userId === joiner.id)!;
    expect(row.status).toBe('pending');
  });

  it('answers 400 NOT_A_GROUP for a one-to-one chat', async () => {
    const a = await t.user();
    const b = await t.user();
    const outsider = await t.user();
    const chatId = await oneToOne(a, b);
    const res = await api(outsider, 'POST', `/chats/${chatId}/participants`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'NOT_A_GROUP' });
    expect(await participantRows(chatId)).toHaveLength(2);
  });

  it('answers 403 RESTRICTED for a restricted chat and adds nobody', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [await t.user()], { restricted: true });
    const res = await api(joiner, 'POST', `/chats/${chatId}/participants`);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'RESTRICTED' });
    expect(await participantRows(chatId)).toHaveLength(2);
    expect((await scoreOf(joiner.id)).score).toBe(0);
  });

  it('answers 409 ALREADY_PARTICIPANT for a participant', async () => {
    const creator = await t.user();
    const member = await t.user();
    const chatId = await groupChat(creator, [member]);
    for (const user of [creator, member]) {
      const res = await api(user, 'POST', `/chats/${chatId}/participants`);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict', code: 'ALREADY_PARTICIPANT' });
    }
    expect((await chatRow(chatId)).participantsCount).toBe(2);
  });

  it('two concurrent joins of the same user: one 201, one 409, one row, one award', async () => {
    const creator = await t.user();
    const joiner = await t.user();
    const chatId = await groupChat(creator, [await t.user()]);
    const answers = await Promise.all([1, 2, 3].map(() => api(joiner, 'POST', `/chats/${chatId}/participants`)));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    expect((await participantRows(chatId)).filter((p) => p.userId === joiner.id)).toHaveLength(1);
    await expectDenormalized(chatId);
    expect((await scoreOf(joiner.id)).score).toBe(5);
  });

  it('answers 403 BLOCKED when the creator blocked the user or the user blocked the creator', async () => {
    const creator = await t.user();
    const blockedByCreator = await t.user();
    const blocker = await t.user();
    const chatId = await groupChat(creator, [await t.user()]);
    expect((await api(creator, 'POST', `/users/${blockedByCreator.id}/block`)).statusCode).toBe(200);
    expect((await api(blocker, 'POST', `/users/${creator.id}/block`)).statusCode).toBe(200);
    for (const user of [blockedByCreator, blocker]) {
      const res = await api(user, 'POST', `/chats/${chatId}/participants`);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('BLOCKED');
    }
    expect(await participantRows(chatId)).toHaveLength(2);
  });

  it('answers 404 CHAT_NOT_FOUND, 400 for bad ids, sockets and fields, 401 without a token', async () => {
    const user = await t.user();
    const chatId = await groupChat(await t.user(), [await t.user()]);
    const missing = await api(user, 'POST', `/chats/${newId()}/participants`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'CHAT_NOT_FOUND' });
    const badId = await api(user, 'POST', '/chats/not-an-id/participants');
    expect(badId.statusCode).toBe(400);
    expect(badId.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
    for (const [payload, field] of [
      [{ socket: 'short' }, 'socket'],
      [{ socket: 'has spaces in it!!!!!' }, 'socket'],
      [{ socket: 12345678901234567 }, 'socket'],
      [{ extra: true }, 'extra'],
    ] as const) {
      const res = await api(user, 'POST', `/chats/${chatId}/participants`, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    const anonymous = await api(null, 'POST', `/chats/${chatId}/participants`);
    expect(anonymous.statusCode).toBe(401);
    expect(await participantRows(chatId)).toHaveLength(2);
  });
});

describe('POST /chats/:id/participants/multiple', () => {
  it('adds the new users only: {participants}, rows, chat-joined + push to them, chat-updated to the others', async () => {
    const admin = await t.user();
    const member = await t.user();
    const followed = await t.user();
    const connected = await t.user();
    await withDevices(t, admin, member, followed, connected);
    const chatId = await groupChat(admin, [member]);
    await follow(admin, followed);
    // `connected` is reached through an accepted meet-me connection, not a follow.
    const request = await api(connected, 'POST', '/connections', { user: admin.id });
    expect(request.statusCode).toBe(201);
    const accept = await api(admin, 'POST', `/connections/${request.json().connection._id}/status`, { status: 'accepted' });
    expect(accept.statusCode).toBe(200);

    const [adminAsking, adminOther] = [await device(admin), await device(admin)];
    const memberDevice = await device(member);
    const followedDevice = await device(followed);
    const connectedDevice = await device(connected);
    await settle(50);
    const before = await chatRow(chatId);

    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, {
      // The viewer's own id, an existing participant and a duplicate are skipped.
      participants: [followed.id, member.id, connected.id, admin.id, followed.id],
      socket: adminAsking.id,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['participants']);
    expect(body.participants).toHaveLength(2);
    expect(body.participants.map((p: any) => p.user)).toEqual([followed.id, connected.id]);
    for (const p of body.participants) {
      expect(Object.keys(p).sort()).toEqual(PARTICIPANT_KEYS);
      expect(p).toEqual({ user: p.user, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) });
    }

    const ps = await participantRows(chatId);
    expect(ps.map((p) => p.userId).sort()).toEqual([admin.id, member.id, followed.id, connected.id].sort());
    expect(ps.find((p) => p.userId === followed.id)).toMatchObject({ id: body.participants[0]._id, isAdmin: false, status: null });
    const after = await chatRow(chatId);
    expect(after.participantsCount).toBe(4);
    expect(after.updatedAt >= before.updatedAt).toBe(true);
    await expectDenormalized(chatId);

    for (const [d, p] of [[followedDevice, body.participants[0]], [connectedDevice, body.participants[1]]] as const) {
      const joined = await received(d, 'chat-joined');
      expect(joined.chat._id).toBe(chatId);
      expect(joined.chat.participants).toContainEqual(p);
      expect(joined.chat.participants).toHaveLength(4);
    }
    const updated = await received(memberDevice, 'chat-updated');
    expect(updated.chat.participants).toHaveLength(4);
    await received(adminOther, 'chat-updated');
    await settle();
    expect(chatEvents(adminAsking)).toEqual([]);
    expect(chatEvents(adminOther)).toEqual(['chat-updated']);
    expect(chatEvents(memberDevice)).toEqual(['chat-updated']);
    expect(chatEvents(followedDevice)).toEqual(['chat-joined']);
    expect(chatEvents(connectedDevice)).toEqual(['chat-joined']);

    // FCM push of chat-joined to each added user, written in the outbox with the change.
    for (const user of [followed, connected]) {
      const pushed = await pushes(user.id, chatId);
      expect(pushed).toHaveLength(1);
      expect(pushed[0].event).toBe('chat-joined');
      expect(pushed[0].body).toContain(admin.name);
    }
    expect(await pushes(member.id, chatId)).toEqual([]);
    // Being added is not joining: no score.
    expect((await scoreOf(followed.id)).score).toBe(0);
  });

  it('answers {participants: []} and emits nothing when everyone is already in', async () => {
    const admin = await t.user();
    const member = await t.user();
    const chatId = await groupChat(admin, [member]);
    const memberDevice = await device(member);
    const before = await chatRow(chatId);
    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [member.id] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ participants: [] });
    await settle();
    expect(chatEvents(memberDevice)).toEqual([]);
    expect(await chatRow(chatId)).toEqual(before);
  });

  it('in an event chat, users added by an admin are accepted', async () => {
    const admin = await t.user();
    const added = await t.user();
    const chatId = await groupChat(admin, [await t.user()], { event: true });
    await follow(admin, added);
    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [added.id] });
    expect(res.statusCode).toBe(200);
    expect(res.json().participants[0]).toMatchObject({ user: added.id, status: 'accepted' });
  });

  it('answers 403 NOT_AN_ADMIN for a participant who is not an admin, 403 NOT_A_PARTICIPANT for others', async () => {
    const admin = await t.user();
    const member = await t.user();
    const outsider = await t.user();
    const target = await t.user();
    const chatId = await groupChat(admin, [member]);
    await follow(member, target);
    await follow(outsider, target);
    const notAdmin = await api(member, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [target.id] });
    expect(notAdmin.statusCode).toBe(403);
    expect(notAdmin.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'NOT_AN_ADMIN' });
    const notIn = await api(outsider, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [target.id] });
    expect(notIn.statusCode).toBe(403);
    expect(notIn.json().code).toBe('NOT_A_PARTICIPANT');
    expect(await participantRows(chatId)).toHaveLength(2);
  });

  it('answers 400 NOT_A_GROUP for a one-to-one chat', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    const chatId = await oneToOne(a, b);
    await follow(a, c);
    const res = await api(a, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [c.id] });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('NOT_A_GROUP');
  });

  it('answers 403 NOT_FOLLOWED naming the users neither followed nor connected, and adds nobody', async () => {
    const admin = await t.user();
    const followed = await t.user();
    const stranger = await t.user();
    const chatId = await groupChat(admin, [await t.user()]);
    await follow(admin, followed);
    // The stranger following the admin is not enough: the admin must follow them.
    await follow(stranger, admin);
    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [followed.id, stranger.id] });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'NOT_FOLLOWED', users: [stranger.id] });
    expect(await participantRows(chatId)).toHaveLength(2);
  });

  it('answers 403 BLOCKED for users in a block with the admin', async () => {
    const admin = await t.user();
    const blocker = await t.user();
    const chatId = await groupChat(admin, [await t.user()]);
    // Reachable through an accepted connection, but blocking the admin.
    const request = await api(admin, 'POST', '/connections', { user: blocker.id });
    await api(blocker, 'POST', `/connections/${request.json().connection._id}/status`, { status: 'accepted' });
    await api(blocker, 'POST', `/users/${admin.id}/block`);
    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [blocker.id] });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'BLOCKED', users: [blocker.id] });
  });

  it('answers 404 USER_NOT_FOUND naming unknown ids', async () => {
    const admin = await t.user();
    const chatId = await groupChat(admin, [await t.user()]);
    const ghost = newId();
    const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [ghost] });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'USER_NOT_FOUND', users: [ghost] });
  });

  it('answers 400 for 0 or 1001 participants, bad ids, a missing list, unknown fields and a bad socket', async () => {
    const admin = await t.user();
    const chatId = await groupChat(admin, [await t.user()]);
    const many = Array.from({ length: 1001 }, () => newId());
    for (const [payload, field] of [
      [{ participants: [] }, 'participants'],
      [{ participants: many }, 'participants'],
      [{ participants: ['nope'] }, 'participants.0'],
      [{}, 'participants'],
      [{ participants: [newId()], admin: true }, 'admin'],
      [{ participants: [newId()], socket: 'x' }, 'socket'],
    ] as const) {
      const res = await api(admin, 'POST', `/chats/${chatId}/participants/multiple`, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    const missing = await api(admin, 'POST', `/chats/${newId()}/participants/multiple`, { participants: [newId()] });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CHAT_NOT_FOUND');
  });
});

describe('DELETE /chats/:id/participants/:participantId', () => {
  it('an admin removes a participant: rows, removal, push and socket events to each side', async () => {
    const admin = await t.user();
    const member = await t.user();
    const removed = await t.user();
    await withDevices(t, admin, member, removed);
    const chatId = await groupChat(admin, [member, removed]);
    const target = (await participantRows(chatId)).find((p) => p.userId === removed.id)!;
    const [adminAsking, adminOther] = [await device(admin), await device(admin)];
    const memberDevice = await device(member);
    const removedDevice = await device(removed);
    await settle(50);

    const res = await api(admin, 'DELETE', `/chats/${chatId}/participants/${target.id}`, { socket: adminAsking.id });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });

    const ps = await participantRows(chatId);
    expect(ps.map((p) => p.userId).sort()).toEqual([admin.id, member.id].sort());
    await expectDenormalized(chatId);
    expect((await chatRow(chatId)).participantsCount).toBe(2);
    expect(await removals(removed.id, chatId)).toHaveLength(1);

    // The participant as it was (supporting-api.md marks bare ids `: id`; this one is the object).
    const removedEvent = { chat: chatId, participant: { _id: target.id, user: removed.id, lastReadAt: expect.stringMatching(ISO_DATE) } };
    expect(await received(removedDevice, 'chat-participant-removed')).toEqual(removedEvent);
    expect(await received(removedDevice, 'chat-access-removed')).toEqual({ chat: chatId });
    for (const d of [memberDevice, adminOther]) {
      expect(await received(d, 'chat-participant-removed')).toEqual(removedEvent);
      const updated = await received(d, 'chat-updated');
      expect(updated.chat._id).toBe(chatId);
      expect(updated.chat.participants.map((p: any) => p.user).sort()).toEqual([admin.id, member.id].sort());
    }
    await settle();
    expect(chatEvents(adminAsking)).toEqual([]);
    expect(chatEvents(removedDevice)).toEqual(['chat-participant-removed', 'chat-access-removed']);
    expect(chatEvents(memberDevice)).toEqual(['chat-participant-removed', 'chat-updated']);

    const pushed = await pushes(removed.id, chatId);
    expect(pushed).toHaveLength(1);
    expect(pushed[0].event).toBe('chat-access-removed');
    expect(pushed[0].body).toContain(admin.name);

    const view = await api(removed, 'GET', `/chats/${chatId}`);
    expect(view.statusCode).toBe(403);
    expect(view.json().code).toBe('NOT_A_PARTICIPANT');
    // Removed means gone: a second removal finds no participant.
    const again = await api(admin, 'DELETE', `/chats/${chatId}/participants/${target.id}`);
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('PARTICIPANT_NOT_FOUND');
  });

  it('accepts the participant’s user id (rulings.md 24)', async () => {
    const admin = await t.user();
    const removed = await t.user();
    const chatId = await groupChat(admin, [await t.user(), removed]);
    const target = (await participantRows(chatId)).find((p) => p.userId === removed.id)!;
    const removedDevice = await device(removed);
    const res = await api(admin, 'DELETE', `/chats/${chatId}/participants/${removed.id}`);
    expect(res.statusCode).toBe(200);
    // The event names the participant's own _id whichever id the request used.
    expect(await received(removedDevice, 'chat-participant-removed')).toMatchObject({ chat: chatId, participant: { _id: target.id, user: removed.id } });
    expect((await participantRows(chatId)).some((p) => p.userId === removed.id)).toBe(false);
  });

  it('a participant leaves without admin rights: no push, no chat-access-removed', async () => {
    const admin = await t.user();
    const leaver = await t.user();
    const chatId = await groupChat(admin, [await t.user(), leaver]);
    const [asking, other] = [await device(leaver), await device(leaver)];
    const adminDevice = await device(admin);
    const res = await api(leaver, 'DELETE', `/chats/${chatId}/participants/${leaver.id}`, { socket: asking.id });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    await received(other, 'chat-participant-removed');
    await received(adminDevice, 'chat-updated');
    await settle();
    expect(chatEvents(asking)).toEqual([]);
    expect(chatEvents(other)).toEqual(['chat-participant-removed']);
    expect(chatEvents(adminDevice)).toEqual(['chat-participant-removed', 'chat-updated']);
    expect(await pushes(leaver.id, chatId)).toEqual([]);
    expect(await removals(leaver.id, chatId)).toHaveLength(1);
    await expectDenormalized(chatId);
  });

  it('answers 403 NOT_AN_ADMIN when a participant removes another', async () => {
    const admin = await t.user();
    const member = await t.user();
    const other = await t.user();
    const chatId = await groupChat(admin, [member, other]);
    for (const target of [other, admin]) {
      const res = await api(member, 'DELETE', `/chats/${chatId}/participants/${target.id}`);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'NOT_AN_ADMIN' });
    }
    expect(await participantRows(chatId)).toHaveLength(3);
  });

  it('answers 409 LAST_ADMIN when the last admin leaves; another admin lets them go', async () => {
    const admin = await t.user();
    const member = await t.user();
    const chatId = await groupChat(admin, [member]);
    const res = await api(admin, 'DELETE', `/chats/${chatId}/participants/${admin.id}`);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict', code: 'LAST_ADMIN' });
    expect(await participantRows(chatId)).toHaveLength(2);

    expect((await api(admin, 'POST', `/chats/${chatId}/participants/${member.id}/admin`)).statusCode).toBe(200);
    const leave = await api(admin, 'DELETE', `/chats/${chatId}/participants/${admin.id}`);
    expect(leave.statusCode).toBe(200);
    expect((await participantRows(chatId)).map((p) => [p.userId, p.isAdmin])).toEqual([[member.id, true]]);
  });

  it('an admin removing the other admin is allowed; the remaining one is then the last admin', async () => {
    const admin = await t.user();
    const second = await t.user();
    const chatId = await groupChat(admin, [second, await t.user()], { admins: [second] });
    expect((await api(admin, 'DELETE', `/chats/${chatId}/participants/${second.id}`)).statusCode).toBe(200);
    const last = await api(admin, 'DELETE', `/chats/${chatId}/participants/${admin.id}`);
    expect(last.statusCode).toBe(409);
    expect(last.json().code).toBe('LAST_ADMIN');
  });

  it('two admins leaving at the same time: one succeeds, one gets 409, one admin stays', async () => {
    const a = await t.user();
    const b = await t.user();
    const chatId = await groupChat(a, [b, await t.user()], { admins: [b] });
    const answers = await Promise.all([
      api(a, 'DELETE', `/chats/${chatId}/participants/${a.id}`),
      api(b, 'DELETE', `/chats/${chatId}/participants/${b.id}`),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(answers.find((r) => r.statusCode === 409)!.json().code).toBe('LAST_ADMIN');
    const admins = (await participantRows(chatId)).filter((p) => p.isAdmin);
    expect(admins).toHaveLength(1);
    await expectDenormalized(chatId);
  });

  it('answers 404 PARTICIPANT_NOT_FOUND, 403 NOT_A_PARTICIPANT, 400 NOT_A_GROUP and 400 for bad ids', async () => {
    const admin = await t.user();
    const outsider = await t.user();
    const member = await t.user();
    const chatId = await groupChat(admin, [member]);
    const unknown = await api(admin, 'DELETE', `/chats/${chatId}/participants/${outsider.id}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ statusCode: 404, code: 'PARTICIPANT_NOT_FOUND' });
    const notIn = await api(outsider, 'DELETE', `/chats/${chatId}/participants/${member.id}`);
    expect(notIn.statusCode).toBe(403);
    expect(notIn.json().code).toBe('NOT_A_PARTICIPANT');
    const badId = await api(admin, 'DELETE', `/chats/${chatId}/participants/xyz`);
    expect(badId.statusCode).toBe(400);
    expect(badId.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'participantId' });
    const badSocket = await api(admin, 'DELETE', `/chats/${chatId}/participants/${member.id}`, { socket: '!'.repeat(20) });
    expect(badSocket.statusCode).toBe(400);
    expect(badSocket.json().field).toBe('socket');
    const noChat = await api(admin, 'DELETE', `/chats/${newId()}/participants/${member.id}`);
    expect(noChat.statusCode).toBe(404);
    expect(noChat.json().code).toBe('CHAT_NOT_FOUND');

    const a = await t.user();
    const b = await t.user();
    const direct = await oneToOne(a, b);
    const res = await api(a, 'DELETE', `/chats/${direct}/participants/${b.id}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('NOT_A_GROUP');
    expect(await participantRows(chatId)).toHaveLength(2);
  });
});

describe('POST and DELETE /chats/:id/participants/:participantId/admin', () => {
  it('grants admin: {participant} with isAdmin, chat-admin-access-granted to that user, chat-updated to the others', async () => {
    const admin = await t.user();
    const member = await t.user();
    const bystander = await t.user();
    const chatId = await groupChat(admin, [member, bystander]);
    const target = (await participantRows(chatId)).find((p) => p.userId === member.id)!;
    const [adminAsking, adminOther] = [await device(admin), await device(admin)];
    const memberDevice = await device(member);
    const bystanderDevice = await device(bystander);
    await settle(50);

    const res = await api(admin, 'POST', `/chats/${chatId}/participants/${target.id}/admin`, { socket: adminAsking.id });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['participant']);
    expect(body.participant).toEqual({ user: member.id, isAdmin: true, _id: target.id, lastReadAt: target.lastReadAt });
    expect((await participantRows(chatId)).find((p) => p.userId === member.id)!.isAdmin).toBe(true);
    await expectDenormalized(chatId);

    expect(await received(memberDevice, 'chat-admin-access-granted')).toEqual({ chat: chatId, participant: body.participant });
    for (const d of [adminOther, bystanderDevice]) {
      const updated = await received(d, 'chat-updated');
      expect(updated.chat.participants).toContainEqual(body.participant);
    }
    await settle();
    expect(chatEvents(adminAsking)).toEqual([]);
    expect(chatEvents(memberDevice)).toEqual(['chat-admin-access-granted']);
    expect(chatEvents(bystanderDevice)).toEqual(['chat-updated']);
    expect(await pushes(member.id, chatId)).toEqual([]);
  });

  it('revokes admin by user id: {participant} without isAdmin, chat-admin-access-removed to that user', async () => {
    const admin = await t.user();
    const second = await t.user();
    const bystander = await t.user();
    const chatId = await groupChat(admin, [second, bystander], { admins: [second] });
    const target = (await participantRows(chatId)).find((p) => p.userId === second.id)!;
    const secondDevice = await device(second);
    const bystanderDevice = await device(bystander);

    const res = await api(admin, 'DELETE', `/chats/${chatId}/participants/${second.id}/admin`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ participant: { user: second.id, _id: target.id, lastReadAt: target.lastReadAt } });
    expect((await participantRows(chatId)).find((p) => p.userId === second.id)!.isAdmin).toBe(false);
    expect(await received(secondDevice, 'chat-admin-access-removed')).toEqual({ chat: chatId, participant: res.json().participant });
    const updated = await received(bystanderDevice, 'chat-updated');
    expect(updated.chat.participants).toContainEqual(res.json().participant);
    await settle();
    expect(chatEvents(secondDevice)).toEqual(['chat-admin-access-removed']);
  });

  it('granting to an admin or revoking from a non-admin changes nothing and emits nothing', async () => {
    const admin = await t.user();
    const second = await t.user();
    const member = await t.user();
    const chatId = await groupChat(admin, [second, member], { admins: [second] });
    const before = await chatRow(chatId);
    const devices = [await device(second), await device(member)];
    const grant = await api(admin, 'POST', `/chats/${chatId}/participants/${second.id}/admin`);
    expect(grant.statusCode).toBe(200);
    expect(grant.json().participant).toMatchObject({ user: second.id, isAdmin: true });
    const revoke = await api(admin, 'DELETE', `/chats/${chatId}/participants/${member.id}/admin`);
    expect(revoke.statusCode).toBe(200);
    expect(revoke.json().participant).not.toHaveProperty('isAdmin');
    await settle();
    for (const d of devices) expect(chatEvents(d)).toEqual([]);
    expect(await chatRow(chatId)).toEqual(before);
  });

  it('answers 403 CANNOT_REMOVE_OWN_ADMIN for your own admin access', async () => {
    const admin = await t.user();
    const second = await t.user();
    const chatId = await groupChat(admin, [second], { admins: [second] });
    const res = await api(admin, 'DELETE', `/chats/${chatId}/participants/${admin.id}/admin`);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'CANNOT_REMOVE_OWN_ADMIN' });
    expect((await participantRows(chatId)).filter((p) => p.isAdmin)).toHaveLength(2);
  });

  it('two admins revoking each other at the same time leave one admin', async () => {
    const a = await t.user();
    const b = await t.user();
    const chatId = await groupChat(a, [b], { admins: [b] });
    const answers = await Promise.all([
      api(a, 'DELETE', `/chats/${chatId}/participants/${b.id}/admin`),
      api(b, 'DELETE', `/chats/${chatId}/participants/${a.id}/admin`),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 403]);
    // The loser is no longer an admin when its turn comes.
    expect(answers.find((r) => r.statusCode === 403)!.json().code).toBe('NOT_AN_ADMIN');
    expect((await participantRows(chatId)).filter((p) => p.isAdmin)).toHaveLength(1);
  });

  it('answers 403 NOT_AN_ADMIN, 403 NOT_A_PARTICIPANT, 404 PARTICIPANT_NOT_FOUND, 400 NOT_A_GROUP, 400 bad ids', async () => {
    const admin = await t.user();
    const member = await t.user();
    const other = await t.user();
    const outsider = await t.user();
    const chatId = await groupChat(admin, [member, other]);
    for (const method of ['POST', 'DELETE'] as const) {
      const notAdmin = await api(member, method, `/chats/${chatId}/participants/${other.id}/admin`);
      expect(notAdmin.statusCode).toBe(403);
      expect(notAdmin.json().code).toBe('NOT_AN_ADMIN');
      const notIn = await api(outsider, method, `/chats/${chatId}/participants/${other.id}/admin`);
      expect(notIn.statusCode).toBe(403);
      expect(notIn.json().code).toBe('NOT_A_PARTICIPANT');
      const unknown = await api(admin, method, `/chats/${chatId}/participants/${outsider.id}/admin`);
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe('PARTICIPANT_NOT_FOUND');
      const badId = await api(admin, method, `/chats/${chatId}/participants/12/admin`);
      expect(badId.statusCode).toBe(400);
      expect(badId.json().field).toBe('participantId');
      const extra = await api(admin, method, `/chats/${chatId}/participants/${other.id}/admin`, { isAdmin: true });
      expect(extra.statusCode).toBe(400);
      expect(extra.json().field).toBe('isAdmin');
    }
    expect((await participantRows(chatId)).filter((p) => p.isAdmin)).toHaveLength(1);

    const a = await t.user();
    const b = await t.user();
    const direct = await oneToOne(a, b);
    const res = await api(a, 'POST', `/chats/${direct}/participants/${b.id}/admin`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('NOT_A_GROUP');
  });
});
