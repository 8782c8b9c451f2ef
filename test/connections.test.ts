import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, OBJECT_ID, startApp, type TestApp, type TestUser } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
}, 180_000); // the first app of a worker opens and migrates PGlite: slow on a busy machine
afterAll(() => t?.close());

const ask = (from: TestUser, payload: unknown) =>
  t.app.inject({ method: 'POST', url: '/connections', headers: from.auth, payload: payload as object });
const answer = (by: TestUser, id: string, payload: unknown) =>
  t.app.inject({ method: 'POST', url: `/connections/${id}/status`, headers: by.auth, payload: payload as object });

async function connectionRows(a: string, b: string) {
  return rows<{ id: string; requester_id: string; user_id: string; status: string }>(
    t.deps.database.db,
    sql`select id, requester_id, user_id, status from connections
        where (requester_id = ${a} and user_id = ${b}) or (requester_id = ${b} and user_id = ${a}) order by created_at, id`,
  );
}

describe('POST /connections', () => {
  it('answers 201 {connection} pending and stores it', async () => {
    const a = await t.user();
    const b = await t.user();
    const res = await ask(a, { user: b.id });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['connection']);
    expect(Object.keys(body.connection).sort()).toEqual(['_id', 'createdAt', 'requester', 'status', 'user']);
    expect(body.connection).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      requester: a.id,
      user: b.id,
      status: 'pending',
      createdAt: expect.stringMatching(ISO_DATE),
    });
    expect(await connectionRows(a.id, b.id)).toEqual([
      { id: body.connection._id, requester_id: a.id, user_id: b.id, status: 'pending' },
    ]);
  });

  it('answers 400 for yourself, a bad id, a missing user and an unknown field', async () => {
    const a = await t.user();
    const self = await ask(a, { user: a.id });
    expect(self.statusCode).toBe(400);
    expect(self.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', field: 'user' });
    for (const [payload, field] of [
      [{ user: '123' }, 'user'],
      [{ user: 'ZZZZZZZZZZZZZZZZZZZZZZZZ' }, 'user'],
      [{}, 'user'],
      [{ user: newId(), extra: 1 }, 'extra'],
    ] as const) {
      const res = await ask(a, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
  });

  it('answers 401 without a token', async () => {
    const b = await t.user();
    const res = await t.app.inject({ method: 'POST', url: '/connections', payload: { user: b.id } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('UNAUTHORIZED');
  });

  it('answers 404 USER_NOT_FOUND for an unknown user', async () => {
    const a = await t.user();
    const res = await ask(a, { user: newId() });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'USER_NOT_FOUND' });
  });

  it('answers 403 BLOCKED when either side blocked the other', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    await t.app.inject({ method: 'POST', url: `/users/${b.id}/block`, headers: a.auth });
    await t.app.inject({ method: 'POST', url: `/users/${a.id}/block`, headers: c.auth });
    for (const [from, to] of [[a, b], [b, a], [a, c], [c, a]]) {
      const res = await ask(from, { user: to.id });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'BLOCKED' });
    }
    expect(await connectionRows(a.id, b.id)).toEqual([]);
  });

  it('answers 409 CONNECTION_EXISTS while one is pending or accepted, in either direction', async () => {
    const a = await t.user();
    const b = await t.user();
    const first = await ask(a, { user: b.id });
    expect(first.statusCode).toBe(201);
    for (const [from, to] of [[a, b], [b, a]]) {
      const res = await ask(from, { user: to.id });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict', code: 'CONNECTION_EXISTS' });
    }
    await answer(b, first.json().connection._id, { status: 'accepted' });
    for (const [from, to] of [[a, b], [b, a]]) {
      expect((await ask(from, { user: to.id })).statusCode).toBe(409);
    }
    expect(await connectionRows(a.id, b.id)).toHaveLength(1);
  });

  it('allows a new request after a rejection', async () => {
    const a = await t.user();
    const b = await t.user();
    const first = await ask(a, { user: b.id });
    await answer(b, first.json().connection._id, { status: 'rejected' });
    const again = await ask(b, { user: a.id });
    expect(again.statusCode).toBe(201);
    expect(again.json().connection).toMatchObject({ requester: b.id, user: a.id, status: 'pending' });
    expect((await connectionRows(a.id, b.id)).map((r) => r.status)).toEqual(['rejected', 'pending']);
  });

  it('keeps one live connection per pair when both ask at the same time', async () => {
    const a = await t.user();
    const b = await t.user();
    const answers = await Promise.all([
      ask(a, { user: b.id }),
      ask(b, { user: a.id }),
      ask(a, { user: b.id }),
      ask(b, { user: a.id }),
    ]);
    const codes = answers.map((r) => r.statusCode).sort();
    expect(codes).toEqual([201, 409, 409, 409]);
    for (const r of answers.filter((r) => r.statusCode === 409)) expect(r.json().code).toBe('CONNECTION_EXISTS');
    expect(await connectionRows(a.id, b.id)).toHaveLength(1);
  });

  it('the database itself refuses a second live connection for a pair', async () => {
    const a = await t.user();
    const b = await t.user();
    await ask(a, { user: b.id });
    const error = await t.deps.database.db
      .execute(sql`insert into connections (id, requester_id, user_id, status) values (${newId()}, ${b.id}, ${a.id}, 'accepted')`)
      .then(() => null, (e: unknown) => e);
    expect(error).not.toBeNull();
    const code = (error as { code?: string; cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
    expect(code).toBe('23505');
  });
});

describe('POST /connections/:id/status', () => {
  async function pending() {
    const a = await t.user();
    const b = await t.user();
    const res = await ask(a, { user: b.id });
    return { a, b, connection: res.json().connection };
  }

  it('lets the addressee accept: {connection} accepted', async () => {
    const { a, b, connection } = await pending();
    const res = await answer(b, connection._id, { status: 'accepted' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ connection: { ...connection, status: 'accepted' } });
    expect((await connectionRows(a.id, b.id))[0].status).toBe('accepted');
  });

  it('lets the addressee reject', async () => {
    const { a, b, connection } = await pending();
    const res = await answer(b, connection._id, { status: 'rejected' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ connection: { ...connection, status: 'rejected' } });
    expect((await connectionRows(a.id, b.id))[0].status).toBe('rejected');
  });

  it('answers 403 FORBIDDEN to the requester and 404 to anyone else', async () => {
    const { a, b, connection } = await pending();
    const stranger = await t.user();
    const byRequester = await answer(a, connection._id, { status: 'accepted' });
    expect(byRequester.statusCode).toBe(403);
    expect(byRequester.json()).toMatchObject({ code: 'FORBIDDEN' });
    const byStranger = await answer(stranger, connection._id, { status: 'accepted' });
    expect(byStranger.statusCode).toBe(404);
    expect(byStranger.json()).toMatchObject({ code: 'CONNECTION_NOT_FOUND' });
    const unknown = await answer(b, newId(), { status: 'accepted' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'CONNECTION_NOT_FOUND' });
    expect((await connectionRows(a.id, b.id))[0].status).toBe('pending');
  });

  it('answers 409 CONFLICT once answered', async () => {
    const { b, connection } = await pending();
    await answer(b, connection._id, { status: 'accepted' });
    for (const status of ['accepted', 'rejected']) {
      const res = await answer(b, connection._id, { status });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'CONFLICT' });
    }
  });

  it('applies one of two simultaneous answers', async () => {
    const { a, b, connection } = await pending();
    const answers = await Promise.all([
      answer(b, connection._id, { status: 'accepted' }),
      answer(b, connection._id, { status: 'rejected' }),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const winner = answers.find((r) => r.statusCode === 200)!.json().connection.status;
    expect((await connectionRows(a.id, b.id))[0].status).toBe(winner);
  });

  it('answers 403 BLOCKED to accepting after a block, and still allows rejecting', async () => {
    const { a, b, connection } = await pending();
    await t.app.inject({ method: 'POST', url: `/users/${b.id}/block`, headers: a.auth });
    const accept = await answer(b, connection._id, { status: 'accepted' });
    expect(accept.statusCode).toBe(403);
    expect(accept.json().code).toBe('BLOCKED');
    const reject = await answer(b, connection._id, { status: 'rejected' });
    expect(reject.statusCode).toBe(200);
  });

  it('answers 400 for a bad status, a bad id or an unknown field', async () => {
    const { b, connection } = await pending();
    for (const [url, payload, field] of [
      [`/connections/${connection._id}/status`, { status: 'pending' }, 'status'],
      [`/connections/${connection._id}/status`, {}, 'status'],
      [`/connections/${connection._id}/status`, { status: 'accepted', x: 1 }, 'x'],
      ['/connections/nope/status', { status: 'accepted' }, 'id'],
    ] as const) {
      const res = await t.app.inject({ method: 'POST', url, headers: b.auth, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
  });
});
