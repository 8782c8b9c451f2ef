import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { startApp, unique, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
}, 180_000); // the first app of a worker opens and migrates PGlite: slow on a busy machine
afterAll(() => t?.close());

const deviceRow = async (token: string) =>
  (await rows<{ user_id: string; platform: string }>(
    t.deps.database.db,
    sql`select user_id, platform from devices where token = ${token}`,
  ))[0];

describe('POST /devices', () => {
  it('registers the token for the viewer, idempotently', async () => {
    const a = await t.user();
    const token = unique('fcm:APA91b-');
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token, platform: 'android' } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true });
    }
    expect(await deviceRow(token)).toEqual({ user_id: a.id, platform: 'android' });
  });

  it('moves a token to the user who registered it last, with the new platform', async () => {
    const a = await t.user();
    const b = await t.user();
    const token = unique('tok-');
    await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token, platform: 'ios' } });
    await t.app.inject({ method: 'POST', url: '/devices', headers: b.auth, payload: { token, platform: 'web' } });
    expect(await deviceRow(token)).toEqual({ user_id: b.id, platform: 'web' });
    const count = await rows(t.deps.database.db, sql`select 1 from devices where token = ${token}`);
    expect(count).toHaveLength(1);
  });

  it('accepts a token of 4096 characters and refuses longer, empty or badly typed ones', async () => {
    const a = await t.user();
    const long = unique('t').padEnd(4096, 'x');
    const ok = await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token: long, platform: 'web' } });
    expect(ok.statusCode).toBe(200);
    for (const [payload, field] of [
      [{ token: long + 'x', platform: 'web' }, 'token'],
      [{ token: '', platform: 'web' }, 'token'],
      [{ token: 5, platform: 'web' }, 'token'],
      [{ platform: 'web' }, 'token'],
      [{ token: 'abc', platform: 'windows' }, 'platform'],
      [{ token: 'abc' }, 'platform'],
      [{ token: 'abc', platform: 'ios', user: a.id }, 'user'],
    ] as const) {
      const res = await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload });
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
  });

  it('answers 401 without a token', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/devices', payload: { token: 'abc', platform: 'web' } });
    expect(res.statusCode).toBe(401);
  });
});

describe('DELETE /devices/:token', () => {
  it("removes the viewer's token, idempotently", async () => {
    const a = await t.user();
    const token = unique('fcm:del-');
    await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token, platform: 'android' } });
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'DELETE', url: `/devices/${encodeURIComponent(token)}`, headers: a.auth });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true });
    }
    expect(await deviceRow(token)).toBeUndefined();
  });

  it("leaves someone else's token alone and still answers success", async () => {
    const a = await t.user();
    const b = await t.user();
    const token = unique('other-');
    await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token, platform: 'ios' } });
    const res = await t.app.inject({ method: 'DELETE', url: `/devices/${token}`, headers: b.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    expect(await deviceRow(token)).toEqual({ user_id: a.id, platform: 'ios' });
  });

  it('removes a real-length FCM token (longer than a default path parameter)', async () => {
    const a = await t.user();
    const token = `${unique('d')}:APA91b${'Hx_-9'.repeat(40)}`;
    await t.app.inject({ method: 'POST', url: '/devices', headers: a.auth, payload: { token, platform: 'android' } });
    expect(await deviceRow(token)).toBeDefined();
    const res = await t.app.inject({ method: 'DELETE', url: `/devices/${encodeURIComponent(token)}`, headers: a.auth });
    expect(res.statusCode).toBe(200);
    expect(await deviceRow(token)).toBeUndefined();
  });

  it('answers 400 for a token over 4096 characters', async () => {
    const a = await t.user();
    const res = await t.app.inject({ method: 'DELETE', url: `/devices/${'x'.repeat(4097)}`, headers: a.auth });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'token' });
  });
});
