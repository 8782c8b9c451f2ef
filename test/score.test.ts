// The social score (chats-api.txt POST /chats/:id/participants, supporting-api.md): join-group-chat
// awarded once per user and chat, by joining or by an accepted join request, emitted as
// score-updated with the new total; points from the configuration; GET /users/me/score.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { ISO_DATE, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { group } from './chats-fixtures.js';
import { api, device, eventNames, received } from './communities-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

async function myScore(app: TestApp, user: TestUser, query = '') {
  const res = await app.app.inject({ url: `/users/me/score${query}`, headers: user.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { score: number; actions: { action: string; points: number; at: string }[] };
}

function join(app: TestApp, user: TestUser, chatId: string, socket?: string) {
  return app.app.inject({
    method: 'POST',
    url: `/chats/${chatId}/participants`,
    headers: user.auth,
    ...(socket ? { payload: { socket } } : {}),
  });
}

describe('GET /users/me/score', () => {
  it('answers {score: 0, actions: []} for a new user', async () => {
    const user = await t.user();
    const body = await myScore(t, user);
    expect(body).toEqual({ score: 0, actions: [] });
  });

  it('lists the actions newest first with their points; the total matches GET /users/me', async () => {
    const creator = await t.user();
    const user = await t.user();
    const first = await group(t, creator, [await t.user()]);
    const second = await group(t, creator, [await t.user()]);
    expect((await join(t, user, first._id)).statusCode).toBe(201);
    expect((await join(t, user, second._id)).statusCode).toBe(201);
    // The two awards may share a millisecond; make their order certain.
    await t.deps.database.db.execute(
      sql`update score_actions set at = at - interval '1 minute' where user_id = ${user.id} and ref = ${first._id}`,
    );

    const body = await myScore(t, user);
    expect(Object.keys(body).sort()).toEqual(['actions', 'score']);
    expect(body.score).toBe(10);
    expect(body.actions).toEqual([
      { action: 'join-group-chat', points: 5, at: expect.stringMatching(ISO_DATE) },
      { action: 'join-group-chat', points: 5, at: expect.stringMatching(ISO_DATE) },
    ]);
    expect(body.actions[0].at > body.actions[1].at).toBe(true);
    for (const action of body.actions) expect(Object.keys(action).sort()).toEqual(['action', 'at', 'points']);
    const me = await api(t, user, 'GET', '/users/me');
    expect(me.json().user.score).toBe(10);

    // Pages of actions, the score always the total.
    const page1 = await myScore(t, user, '?limit=1');
    expect(page1).toEqual({ score: 10, actions: [body.actions[0]] });
    const page2 = await myScore(t, user, '?limit=1&page=2');
    expect(page2).toEqual({ score: 10, actions: [body.actions[1]] });
    expect((await myScore(t, user, '?limit=1&page=3')).actions).toEqual([]);
  });

  it('answers 400 for bad paging and 401 without a token', async () => {
    const user = await t.user();
    for (const query of ['?limit=0', '?limit=101', '?page=0', '?limit=x']) {
      const res = await t.app.inject({ url: `/users/me/score${query}`, headers: user.auth });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code).toBe('VALIDATION_FAILED');
    }
    expect((await t.app.inject({ url: '/users/me/score' })).statusCode).toBe(401);
  });
});

describe('join-group-chat', () => {
  it('is awarded once per user and chat: score-updated with the new total, not to the requesting socket', async () => {
    const creator = await t.user();
    const user = await t.user();
    const chat = await group(t, creator, [await t.user()]);
    const other = await group(t, creator, [await t.user()]);
    const [asking, otherDevice] = [await device(t, user), await device(t, user)];

    expect((await join(t, user, chat._id, asking.id)).statusCode).toBe(201);
    expect(await received(otherDevice, 'score-updated')).toEqual({ score: 5, action: 'join-group-chat', points: 5 });
    // Leave and join again: nothing more.
    expect((await api(t, user, 'DELETE', `/chats/${chat._id}/participants/${user.id}`)).statusCode).toBe(200);
    expect((await join(t, user, chat._id)).statusCode).toBe(201);
    // Another chat: the new total.
    expect((await join(t, user, other._id, asking.id)).statusCode).toBe(201);
    await settle();
    const updates = otherDevice.events.filter((e) => e.event === 'score-updated').map((e) => e.payload);
    expect(updates).toEqual([
      { score: 5, action: 'join-group-chat', points: 5 },
      { score: 10, action: 'join-group-chat', points: 5 },
    ]);
    expect(eventNames(asking).filter((e) => e === 'score-updated')).toEqual([]);
    expect((await myScore(t, user)).score).toBe(10);
    const once = await rows<{ ref: string }>(
      t.deps.database.db,
      sql`select ref from score_once where user_id = ${user.id} and action = 'join-group-chat' order by ref`,
    );
    expect(once.map((r) => r.ref)).toEqual([chat._id, other._id].sort());
  });

  it('is awarded when a join request is accepted, once with a later join of the same chat', async () => {
    const creator = await t.user();
    const user = await t.user();
    const chat = await group(t, creator, [await t.user()], { restricted: true });
    const d = await device(t, user);
    const request = (await api(t, user, 'POST', `/chats/${chat._id}/requests`)).json().request;
    expect((await api(t, creator, 'POST', `/chats/${chat._id}/requests/${request._id}/status`, { status: 'accepted' })).statusCode).toBe(200);
    expect(await received(d, 'score-updated')).toEqual({ score: 5, action: 'join-group-chat', points: 5 });
    expect((await api(t, user, 'DELETE', `/chats/${chat._id}/participants/${user.id}`)).statusCode).toBe(200);
    // The chat opens up; joining it directly awards nothing more.
    await t.deps.database.db.execute(sql`update chats set restricted = false where id = ${chat._id}`);
    expect((await join(t, user, chat._id)).statusCode).toBe(201);
    expect(await myScore(t, user)).toEqual({
      score: 5,
      actions: [{ action: 'join-group-chat', points: 5, at: expect.stringMatching(ISO_DATE) }],
    });
  });

  it('takes its points from the configuration; an action left out of it awards nothing', async () => {
    const configured = await startApp({ SCORE_ACTIONS: JSON.stringify({ 'join-group-chat': { points: 7, once: 'chat' } }) });
    const unscored = await startApp({ SCORE_ACTIONS: JSON.stringify({ 'send-message': { points: 1, once: 'always' } }) });
    try {
      const creator = await t.user();
      const user = await t.user();
      const a = await group(t, creator, [await t.user()]);
      const b = await group(t, creator, [await t.user()]);
      const d = await device(configured, user);
      expect((await join(configured, user, a._id)).statusCode).toBe(201);
      expect(await received(d, 'score-updated')).toEqual({ score: 7, action: 'join-group-chat', points: 7 });
      expect((await join(unscored, user, b._id)).statusCode).toBe(201);
      expect(await myScore(configured, user)).toEqual({
        score: 7,
        actions: [{ action: 'join-group-chat', points: 7, at: expect.stringMatching(ISO_DATE) }],
      });
    } finally {
      await configured.close();
      await unscored.close();
    }
  });
});
