// Join requests of restricted group chats (supporting-api.md): POST /chats/:id/requests and
// POST /chats/:id/requests/:requestId/status, with the admins and the requester told by socket and
// push, and an accepted request joining the user as POST /chats/:id/participants does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, OBJECT_ID, settle, startApp, withDevices, type TestApp, type TestUser } from './helpers/app.js';
import { block, follow, group, multipart, oneToOne } from './chats-fixtures.js';
import { api, device, eventNames, pushes, received } from './communities-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;

/** A restricted group of `creator` with `members`; `admins` among them made admins. */
async function restrictedChat(creator: TestUser, members: TestUser[], admins: TestUser[] = []) {
  const chat = await group(t, creator, members, { restricted: true, name: 'Secret Club' });
  for (const admin of admins) {
    await db().execute(sql`update participants set is_admin = true where chat_id = ${chat._id} and user_id = ${admin.id}`);
  }
  return chat._id as string;
}

function ask(user: TestUser, chatId: string, body?: Record<string, unknown>) {
  return api(t, user, 'POST', `/chats/${chatId}/requests`, body);
}

function decide(admin: TestUser, chatId: string, requestId: string, body: Record<string, unknown>) {
  return api(t, admin, 'POST', `/chats/${chatId}/requests/${requestId}/status`, body);
}

async function requestRows(chatId: string, userId: string) {
  return rows<{ id: string; status: string }>(
    db(),
    sql`select id, status from join_requests where chat_id = ${chatId} and user_id = ${userId} order by created_at, id`,
  );
}

async function chatState(chatId: string) {
  const [chat] = await rows<{ participantsCount: number; activity: string }>(
    db(),
    sql`select participants_count as "participantsCount", iso(coalesce(last_message_at, updated_at)) as activity
        from chats where id = ${chatId}`,
  );
  const ps = await rows<{ userId: string; status: string | null; activityAt: string; isGroup: boolean }>(
    db(),
    sql`select user_id as "userId", status, iso(activity_at) as "activityAt", is_group as "isGroup"
        from participants where chat_id = ${chatId}`,
  );
  return { chat, participants: ps };
}

async function scoreOf(userId: string) {
  const [user] = await rows<{ score: number }>(db(), sql`select score from users where id = ${userId}`);
  const actions = await rows<{ action: string; ref: string }>(
    db(),
    sql`select action, ref from score_actions where user_id = ${userId}`,
  );
  return { score: user.score, actions };
}

describe('POST /chats/:id/requests', () => {
  it('asks to join a restricted chat: 201 {request}, row, chat-request-created and a push to every admin', async () => {
    const creator = await t.user();
    const [admin, member] = [await t.user(), await t.user()];
    const requester = await t.user();
    await withDevices(t, creator, admin, member, requester);
    const chatId = await restrictedChat(creator, [admin, member], [admin]);
    const [creatorDevice, adminDevice, memberDevice] = [await device(t, creator), await device(t, admin), await device(t, member)];
    const requesterDevice = await device(t, requester);

    const res = await ask(requester, chatId, { socket: requesterDevice.id });
    expect(res.statusCode, res.body).toBe(201);
    expect(Object.keys(res.json())).toEqual(['request']);
    const request = res.json().request;
    expect(Object.keys(request).sort()).toEqual(['_id', 'chat', 'createdAt', 'status', 'user']);
    expect(request).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      user: requester.id,
      chat: chatId,
      status: 'pending',
      createdAt: expect.stringMatching(ISO_DATE),
    });
    expect(await requestRows(chatId, requester.id)).toEqual([{ id: request._id, status: 'pending' }]);

    for (const d of [creatorDevice, adminDevice]) {
      expect(await received(d, 'chat-request-created')).toEqual({ chat: chatId, request });
    }
    for (const adminUser of [creator, admin]) {
      expect(await pushes(t, adminUser.id, 'chat-request-created')).toEqual([
        { event: 'chat-request-created', chatId, title: 'Secret Club', body: `${requester.name} asks to join Secret Club` },
      ]);
    }
    await settle();
    expect(eventNames(memberDevice)).toEqual([]);
    expect(eventNames(requesterDevice)).toEqual([]);
    expect(await pushes(t, member.id, 'chat-request-created')).toEqual([]);
    // Nothing joined yet.
    expect((await chatState(chatId)).chat.participantsCount).toBe(3);
  });

  it('answers 409 REQUEST_PENDING to a second request, also when two race', async () => {
    const creator = await t.user();
    const chatId = await restrictedChat(creator, [await t.user()]);
    const requester = await t.user();
    expect((await ask(requester, chatId)).statusCode).toBe(201);
    const second = await ask(requester, chatId);
    expect(second.statusCode).toBe(409);
    expect(second.json().code).toBe('REQUEST_PENDING');

    const racer = await t.user();
    const answers = await Promise.all([ask(racer, chatId), ask(racer, chatId), ask(racer, chatId)]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    expect(answers.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'REQUEST_PENDING')).toBe(true);
    expect(await requestRows(chatId, racer.id)).toHaveLength(1);
  });

  it('answers 400 NOT_RESTRICTED, 400 NOT_A_GROUP, 409 ALREADY_PARTICIPANT, 403 BLOCKED, 404 and 400s', async () => {
    const creator = await t.user();
    const member = await t.user();
    const requester = await t.user();
    const open = await group(t, creator, [member]);
    const notRestricted = await ask(requester, open._id);
    expect(notRestricted.statusCode).toBe(400);
    expect(notRestricted.json().code).toBe('NOT_RESTRICTED');
    const direct = await oneToOne(t, creator, member);
    const notGroup = await ask(requester, direct._id);
    expect(notGroup.statusCode).toBe(400);
    expect(notGroup.json().code).toBe('NOT_A_GROUP');
    const chatId = await restrictedChat(creator, [member]);
    const already = await ask(member, chatId);
    expect(already.statusCode).toBe(409);
    expect(already.json().code).toBe('ALREADY_PARTICIPANT');

    const blocker = await t.user();
    const blockedChat = await restrictedChat(blocker, [await t.user()]);
    await block(t, blocker, requester);
    const blocked = await ask(requester, blockedChat);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('BLOCKED');
    const missing = await ask(requester, newId());
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CHAT_NOT_FOUND');
    for (const [url, body] of [
      ['/chats/nope/requests', {}],
      [`/chats/${chatId}/requests`, { socket: 'no!' }],
      [`/chats/${chatId}/requests`, { note: 'please' }],
    ] as const) {
      const res = await api(t, requester, 'POST', url, body);
      expect(res.statusCode, url + JSON.stringify(body)).toBe(400);
      expect(res.json().code).toBe('VALIDATION_FAILED');
    }
    expect((await api(t, null, 'POST', `/chats/${chatId}/requests`)).statusCode).toBe(401);
    expect(await requestRows(chatId, requester.id)).toEqual([]);
    expect(await requestRows(blockedChat, requester.id)).toEqual([]);
  });
});

describe('POST /chats/:id/requests/:requestId/status', () => {
  it('a request whose user became a participant another way is settled: explore shows no request, deciding it is a 409', async () => {
    const creator = await t.user();
    const [added, joiner] = [await t.user(), await t.user()];
    const name = `Settled ${newId()}`;
    const chat = await group(t, creator, [await t.user()], { restricted: true, name });
    const chatId = chat._id as string;
    const addedRequest = (await ask(added, chatId)).json().request;
    const joinerRequest = (await ask(joiner, chatId)).json().request;

    // Added by the admin while the request is pending.
    await follow(t, creator, added);
    const add = await api(t, creator, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [added.id] });
    expect(add.statusCode, add.body).toBe(200);
    // Joined once the chat was opened.
    const open = multipart({ restricted: 'false' });
    const opened = await t.app.inject({ method: 'PUT', url: `/chats/${chatId}`, headers: { ...creator.auth, ...open.headers }, payload: open.payload });
    expect(opened.statusCode, opened.body).toBe(200);
    const join = await api(t, joiner, 'POST', `/chats/${chatId}/participants`, {});
    expect(join.statusCode, join.body).toBe(201);

    for (const [user, request] of [[added, addedRequest], [joiner, joinerRequest]] as const) {
      expect(await requestRows(chatId, user.id)).toEqual([{ id: request._id, status: 'accepted' }]);
      const explore = await api(t, user, 'GET', `/chats/explore/communities?search=${encodeURIComponent(name)}`);
      const item = explore.json().chats.find((c: any) => c._id === chatId);
      expect(item).toMatchObject({ isJoined: true });
      expect(item).not.toHaveProperty('request');
      const decided = await decide(creator, chatId, request._id, { status: 'accepted' });
      expect(decided.statusCode).toBe(409);
      expect(decided.json().code).toBe('CONFLICT');
    }
  });

  it('accepted: {request}, the user joins (chat-joined, chat-updated, score once) and is told', async () => {
    const creator = await t.user();
    const member = await t.user();
    const requester = await t.user();
    await withDevices(t, creator, member, requester);
    const chatId = await restrictedChat(creator, [member]);
    const request = (await ask(requester, chatId)).json().request;
    const [asking, adminOther] = [await device(t, creator), await device(t, creator)];
    const [requesterDevice, memberDevice] = [await device(t, requester), await device(t, member)];

    const res = await decide(creator, chatId, request._id, { status: 'accepted', socket: asking.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json())).toEqual(['request']);
    expect(res.json().request).toEqual({ ...request, status: 'accepted' });
    expect(await requestRows(chatId, requester.id)).toEqual([{ id: request._id, status: 'accepted' }]);

    // A participant now, with the denormalized copies kept.
    const state = await chatState(chatId);
    expect(state.chat.participantsCount).toBe(3);
    expect(state.participants.find((p) => p.userId === requester.id)).toMatchObject({ status: null, isGroup: true });
    for (const p of state.participants) expect(p.activityAt).toBe(state.chat.activity);

    const joined = await received(requesterDevice, 'chat-joined');
    expect(joined.chat).toMatchObject({ _id: chatId, restricted: true });
    expect(joined.chat.participants.map((p: any) => p.user)).toContain(requester.id);
    expect(await received(requesterDevice, 'chat-request-updated')).toEqual({ chat: chatId, request: res.json().request });
    expect(await received(requesterDevice, 'score-updated')).toEqual({ score: 5, action: 'join-group-chat', points: 5 });
    expect(await received(memberDevice, 'chat-updated')).toEqual({ chat: joined.chat });
    expect(await received(adminOther, 'chat-updated')).toEqual({ chat: joined.chat });
    await settle();
    expect(eventNames(asking)).toEqual([]);
    expect(eventNames(memberDevice)).toEqual(['chat-updated']);
    expect(await pushes(t, requester.id, 'chat-request-updated')).toEqual([
      { event: 'chat-request-updated', chatId, title: 'Secret Club', body: 'Your request to join Secret Club was accepted' },
    ]);
    expect(await scoreOf(requester.id)).toEqual({ score: 5, actions: [{ action: 'join-group-chat', ref: chatId }] });

    // The requester sees the chat as a participant.
    const view = await api(t, requester, 'GET', `/chats/${chatId}`);
    expect(view.statusCode).toBe(200);
    expect(view.json().chat).toMatchObject({ isJoined: true, areYouAdmin: false, participantsCount: 3 });

    // Decided already: 409 CONFLICT.
    const again = await decide(creator, chatId, request._id, { status: 'rejected' });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('CONFLICT');

    // Leaving and being accepted again awards nothing more (once per user and chat).
    expect((await api(t, requester, 'DELETE', `/chats/${chatId}/participants/${requester.id}`)).statusCode).toBe(200);
    const second = (await ask(requester, chatId)).json().request;
    expect((await decide(creator, chatId, second._id, { status: 'accepted' })).statusCode).toBe(200);
    expect((await scoreOf(requester.id)).score).toBe(5);
    expect((await chatState(chatId)).chat.participantsCount).toBe(3);
  });

  it('in an event chat the accepted requester is accepted, not pending', async () => {
    const creator = await t.user();
    const requester = await t.user();
    const created = await api(t, creator, 'POST', '/events', {
      name: 'Gala',
      startsAt: new Date(Date.now() + 3600_000).toISOString(),
      endsAt: new Date(Date.now() + 7200_000).toISOString(),
      restricted: true,
    });
    expect(created.statusCode).toBe(201);
    const chatId = created.json().chat._id;
    const request = (await ask(requester, chatId)).json().request;
    expect((await decide(creator, chatId, request._id, { status: 'accepted' })).statusCode).toBe(200);
    expect((await chatState(chatId)).participants.find((p) => p.userId === requester.id)?.status).toBe('accepted');
    expect((await api(t, requester, 'POST', `/chats/${chatId}/messages`, { text: 'hi' })).statusCode).toBe(201);
  });

  it('rejected: {request}, nobody joins, the requester is told and may ask again', async () => {
    const creator = await t.user();
    const member = await t.user();
    const requester = await t.user();
    await withDevices(t, creator, member, requester);
    const chatId = await restrictedChat(creator, [member]);
    const request = (await ask(requester, chatId)).json().request;
    const [requesterDevice, memberDevice] = [await device(t, requester), await device(t, member)];

    const res = await decide(creator, chatId, request._id, { status: 'rejected' });
    expect(res.statusCode).toBe(200);
    expect(res.json().request).toEqual({ ...request, status: 'rejected' });
    expect(await received(requesterDevice, 'chat-request-updated')).toEqual({ chat: chatId, request: res.json().request });
    await settle();
    expect(eventNames(requesterDevice)).toEqual(['chat-request-updated']);
    expect(eventNames(memberDevice)).toEqual([]);
    expect((await chatState(chatId)).chat.participantsCount).toBe(2);
    expect(await pushes(t, requester.id, 'chat-request-updated')).toEqual([
      { event: 'chat-request-updated', chatId, title: 'Secret Club', body: 'Your request to join Secret Club was declined' },
    ]);
    expect((await scoreOf(requester.id)).score).toBe(0);

    const again = await ask(requester, chatId);
    expect(again.statusCode).toBe(201);
    expect((await requestRows(chatId, requester.id)).map((r) => r.status)).toEqual(['rejected', 'pending']);
  });

  it('answers 403 NOT_AN_ADMIN / NOT_A_PARTICIPANT, 404 REQUEST_NOT_FOUND (also of another chat), 400s', async () => {
    const creator = await t.user();
    const member = await t.user();
    const requester = await t.user();
    const chatId = await restrictedChat(creator, [member]);
    const otherChat = await restrictedChat(creator, [member]);
    const request = (await ask(requester, chatId)).json().request;

    const byMember = await decide(member, chatId, request._id, { status: 'accepted' });
    expect(byMember.statusCode).toBe(403);
    expect(byMember.json().code).toBe('NOT_AN_ADMIN');
    const byRequester = await decide(requester, chatId, request._id, { status: 'accepted' });
    expect(byRequester.statusCode).toBe(403);
    expect(byRequester.json().code).toBe('NOT_A_PARTICIPANT');
    const wrongChat = await decide(creator, otherChat, request._id, { status: 'accepted' });
    expect(wrongChat.statusCode).toBe(404);
    expect(wrongChat.json().code).toBe('REQUEST_NOT_FOUND');
    const unknown = await decide(creator, chatId, newId(), { status: 'accepted' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('REQUEST_NOT_FOUND');
    const noChat = await decide(creator, newId(), request._id, { status: 'accepted' });
    expect(noChat.statusCode).toBe(404);
    expect(noChat.json().code).toBe('CHAT_NOT_FOUND');
    for (const [url, body, field] of [
      [`/chats/${chatId}/requests/${request._id}/status`, { status: 'pending' }, 'status'],
      [`/chats/${chatId}/requests/${request._id}/status`, {}, 'status'],
      [`/chats/${chatId}/requests/${request._id}/status`, { status: 'accepted', why: 1 }, 'why'],
      [`/chats/${chatId}/requests/nope/status`, { status: 'accepted' }, 'requestId'],
    ] as const) {
      const res = await api(t, creator, 'POST', url, body);
      expect(res.statusCode, url + JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    expect(await requestRows(chatId, requester.id)).toEqual([{ id: request._id, status: 'pending' }]);
  });

  it('two admins deciding the same request at once: one wins, the other gets 409, one participant', async () => {
    const creator = await t.user();
    const admin = await t.user();
    const requester = await t.user();
    const chatId = await restrictedChat(creator, [admin], [admin]);
    const request = (await ask(requester, chatId)).json().request;
    const answers = await Promise.all([
      decide(creator, chatId, request._id, { status: 'accepted' }),
      decide(admin, chatId, request._id, { status: 'accepted' }),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const state = await chatState(chatId);
    expect(state.participants.filter((p) => p.userId === requester.id)).toHaveLength(1);
    expect(state.chat.participantsCount).toBe(3);
    expect((await scoreOf(requester.id)).score).toBe(5);
  });
});
