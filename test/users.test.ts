import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { ISO_DATE, OBJECT_ID, startApp, TEST_JWT_SECRET, unique, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

describe('POST /auth/register', () => {
  it('creates the user and answers 201 {user, token}', async () => {
    const username = unique('Reg_');
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { name: 'Max R', username, password: 'password123', photo: 'https://cdn.example.com/a.jpg' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['token', 'user']);
    expect(body.user).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      name: 'Max R',
      username,
      photo: 'https://cdn.example.com/a.jpg',
      score: 0,
      createdAt: expect.stringMatching(ISO_DATE),
    });
    expect(body.user).not.toHaveProperty('passwordHash');
    const me = await t.app.inject({ url: '/users/me', headers: { authorization: `Bearer ${body.token}` } });
    expect(me.json().user._id).toBe(body.user._id);
  });

  it('answers 409 USERNAME_TAKEN for a username taken in another case', async () => {
    const u = await t.user();
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { name: 'X', username: u.username.toUpperCase(), password: 'password123' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict', code: 'USERNAME_TAKEN' });
  });

  it.each([
    [{ name: 'A', username: 'ab', password: 'password123' }, 'username'],
    [{ name: 'A', username: 'a'.repeat(31), password: 'password123' }, 'username'],
    [{ name: 'A', username: 'bad name!', password: 'password123' }, 'username'],
    [{ name: 'A', username: 'fine_name', password: 'short' }, 'password'],
    [{ name: 'A', username: 'fine_name', password: 'x'.repeat(201) }, 'password'],
    [{ name: '', username: 'fine_name', password: 'password123' }, 'name'],
    [{ name: 'x'.repeat(101), username: 'fine_name', password: 'password123' }, 'name'],
    [{ name: 5, username: 'fine_name', password: 'password123' }, 'name'],
    [{ username: 'fine_name', password: 'password123' }, 'name'],
    [{ name: 'A', username: 'fine_name', password: 'password123', admin: true }, 'admin'],
  ])('answers 400 naming the field for %j', async (payload, field) => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/register', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', field });
  });

  it('answers 400 INVALID_JSON for malformed JSON and writes nothing', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('INVALID_JSON');
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { name: 'x'.repeat(2 * 1024 * 1024), username: 'big_one', password: 'password123' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('POST /auth/login', () => {
  it('answers {user, token} for the right password', async () => {
    const u = await t.user();
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: u.username.toUpperCase(), password: 'password123' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().user._id).toBe(u.id);
    expect(typeof res.json().token).toBe('string');
  });

  it('answers the same 401 for a wrong password and an unknown user', async () => {
    const u = await t.user();
    const wrong = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: u.username, password: 'nope12345' } });
    const unknown = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: unique('ghost_'), password: 'nope12345' } });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const strip = (b: any) => ({ ...b, requestId: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
    expect(wrong.json().code).toBe('INVALID_CREDENTIALS');
  });
});

describe('authentication', () => {
  it.each([
    ['no header', undefined],
    ['not bearer', 'Basic abc'],
    ['garbage', 'Bearer not-a-jwt'],
  ])('answers 401 UNAUTHORIZED for %s', async (_label, authorization) => {
    const res = await t.app.inject({ url: '/users/me', headers: authorization ? { authorization } : {} });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized', code: 'UNAUTHORIZED' });
  });

  it('answers 401 for an expired token and for a forged one', async () => {
    const u = await t.user();
    const secret = new TextEncoder().encode(TEST_JWT_SECRET);
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(u.id)
      .setIssuedAt(1000).setExpirationTime(2000).sign(secret);
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(u.id)
      .setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-another'));
    for (const token of [expired, forged]) {
      const res = await t.app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(401);
    }
  });
});

describe('GET /users/:id', () => {
  it('shows the user with isFollowed and isBlocked from the viewer side', async () => {
    const a = await t.user();
    const b = await t.user();
    let res = await t.app.inject({ url: `/users/${b.id}`, headers: a.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ user: { _id: b.id, name: b.name, username: b.username, isFollowed: false, isBlocked: false } });
    await t.app.inject({ method: 'POST', url: `/users/${b.id}/follow`, headers: a.auth });
    res = await t.app.inject({ url: `/users/${b.id}`, headers: a.auth });
    expect(res.json().user.isFollowed).toBe(true);
  });

  it('answers 400 for an id that is not 24 hex and 404 for an unknown one', async () => {
    const a = await t.user();
    const bad = await t.app.inject({ url: '/users/123', headers: a.auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
    const missing = await t.app.inject({ url: '/users/aaaaaaaaaaaaaaaaaaaaaaaa', headers: a.auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('USER_NOT_FOUND');
  });
});

describe('follow and block', () => {
  it('follow and unfollow are idempotent', async () => {
    const a = await t.user();
    const b = await t.user();
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: `/users/${b.id}/follow`, headers: a.auth });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true });
    }
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'DELETE', url: `/users/${b.id}/follow`, headers: a.auth });
      expect(res.json()).toEqual({ success: true });
    }
    const res = await t.app.inject({ url: `/users/${b.id}`, headers: a.auth });
    expect(res.json().user.isFollowed).toBe(false);
  });

  it('cannot follow yourself or an unknown user', async () => {
    const a = await t.user();
    const self = await t.app.inject({ method: 'POST', url: `/users/${a.id}/follow`, headers: a.auth });
    expect(self.statusCode).toBe(400);
    const unknown = await t.app.inject({ method: 'POST', url: `/users/bbbbbbbbbbbbbbbbbbbbbbbb/follow`, headers: a.auth });
    expect(unknown.statusCode).toBe(404);
  });

  it('block is idempotent, ends following both ways, and stops new follows', async () => {
    const a = await t.user();
    const b = await t.user();
    await t.app.inject({ method: 'POST', url: `/users/${b.id}/follow`, headers: a.auth });
    await t.app.inject({ method: 'POST', url: `/users/${a.id}/follow`, headers: b.auth });
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: `/users/${b.id}/block`, headers: a.auth });
      expect(res.json()).toEqual({ success: true });
    }
    const view = await t.app.inject({ url: `/users/${b.id}`, headers: a.auth });
    expect(view.json().user).toMatchObject({ isBlocked: true, isFollowed: false });
    const follow = await t.app.inject({ method: 'POST', url: `/users/${a.id}/follow`, headers: b.auth });
    expect(follow.statusCode).toBe(403);
    expect(follow.json().code).toBe('BLOCKED');
    const unblock = await t.app.inject({ method: 'DELETE', url: `/users/${b.id}/block`, headers: a.auth });
    expect(unblock.json()).toEqual({ success: true });
    const again = await t.app.inject({ url: `/users/${b.id}`, headers: a.auth });
    expect(again.json().user.isBlocked).toBe(false);
  });
});

describe('service basics', () => {
  it('GET /health answers ok', async () => {
    const res = await t.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', db: 'ok', redis: 'off' });
  });

  it('unknown routes are 404 ROUTE_NOT_FOUND in the error body', async () => {
    const res = await t.app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'ROUTE_NOT_FOUND' });
  });

  it('/docs/json lists the routes', async () => {
    const res = await t.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/auth/register', '/auth/login', '/users/me', '/users/{id}', '/users/{id}/follow']));
  });
});
