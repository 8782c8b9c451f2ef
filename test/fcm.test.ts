// Push through FCM HTTP v1 (the production issue, part 3), end to end: an outbox row written by a
// transaction → the app's push worker → the FCM sender → a local server speaking Google's OAuth2
// token protocol and FCM v1 (test/helpers/fake-fcm.ts), including its failures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { transaction, type PushMessage } from '../src/shared/effects.js';
import { newId } from '../src/shared/ids.js';
import { FCM_SCOPE, newServiceAccount, startFakeFcm, type FakeFcm } from './helpers/fake-fcm.js';
import { isolatedDatabase, settle, startApp, unique, type TestApp, type TestUser } from './helpers/app.js';

interface OutboxRow {
  id: number;
  attempts: number;
  sent: boolean;
  failed: boolean;
  deliveredTokens: string[];
  lastError: string | null;
  dueInMs: number;
}

async function registerDevice(t: TestApp, user: TestUser, platform: 'android' | 'ios' | 'web'): Promise<string> {
  const token = `${unique('fcm_')}:APA91b${'x'.repeat(140)}`;
  const res = await t.app.inject({ method: 'POST', url: '/devices', headers: user.auth, payload: { token, platform } });
  expect(res.statusCode).toBe(200);
  return token;
}

function message(overrides: Partial<PushMessage> = {}): PushMessage {
  return { event: 'message-created', chat: newId(), title: 'Max_R', body: 'See you at 5', ...overrides };
}

/** Writes push_outbox rows the way every service does: effects.push inside a transaction. */
async function push(t: TestApp, userIds: string[], msg: PushMessage): Promise<void> {
  await transaction(t.deps, async (_tx, effects) => effects.push(userIds, msg));
}

async function outbox(t: TestApp, userId: string): Promise<OutboxRow[]> {
  const found = await rows<OutboxRow & { deliveredTokens: string[] | string }>(
    t.deps.database.db,
    sql`select id::int as id, attempts, sent_at is not null as sent, failed_at is not null as failed,
               delivered_tokens as "deliveredTokens", last_error as "lastError",
               (extract(epoch from (next_attempt_at - now())) * 1000)::int as "dueInMs"
        from push_outbox where user_id = ${userId} order by id`,
  );
  // PGlite and postgres.js both parse text[]; keep the type honest for either.
  return found.map((r) => ({ ...r, deliveredTokens: Array.isArray(r.deliveredTokens) ? r.deliveredTokens : [] }));
}

async function devicesOf(t: TestApp, userId: string): Promise<string[]> {
  const found = await rows<{ token: string }>(
    t.deps.database.db,
    sql`select token from devices where user_id = ${userId} order by token`,
  );
  return found.map((r) => r.token);
}

/** Runs the worker until this user's rows are finished, or `ms` passes. */
async function drain(t: TestApp, userId: string, ms = 15_000): Promise<OutboxRow[]> {
  const until = Date.now() + ms;
  for (;;) {
    await t.deps.pushWorker.runOnce();
    const found = await outbox(t, userId);
    if (found.every((r) => r.sent || r.failed) || Date.now() > until) return found;
    await settle(100);
  }
}

describe('FCM sender', () => {
  let fake: FakeFcm;
  let database: Awaited<ReturnType<typeof isolatedDatabase>>;
  let t: TestApp;
  /**
   * Runs `test` with an app of its own (a new sender, so no access token cached yet) as the only
   * worker on the outbox. Two workers over one outbox take each other's rows: a wake timer left
   * by one test claimed the next test's row and sent it with the other app's token.
   */
  const withFreshApp = async (test: (app: TestApp) => Promise<void>, env: Record<string, string> = {}) => {
    await t.deps.pushWorker.stop();
    const app = await startApp({ ...fake.env(), ...database.env, ...env });
    try {
      await test(app);
    } finally {
      await app.close();
      t.deps.pushWorker.start();
    }
  };

  beforeAll(async () => {
    fake = await startFakeFcm(newServiceAccount());
    database = await isolatedDatabase();
    t = await startApp({ ...fake.env(), ...database.env });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
    await database?.drop();
  });

  it('delivers an outbox row to every device of the user with a signed-assertion access token', async () => {
    const user = await t.user();
    const android = await registerDevice(t, user, 'android');
    const ios = await registerDevice(t, user, 'ios');
    const web = await registerDevice(t, user, 'web');
    const chat = newId();
    const tokenRequestsBefore = fake.tokenRequests.length;

    await push(t, [user.id], message({ event: 'chat-created', chat, title: 'Future Scientists', body: 'Max_R added you' }));
    // The commit wakes the worker: no polling needed for the first attempt.
    const until = Date.now() + 10_000;
    while ([android, ios, web].some((tk) => fake.delivered(tk).length === 0) && Date.now() < until) await settle(25);

    const sends = [android, ios, web].map((tk) => fake.delivered(tk));
    expect(sends.map((s) => s.length)).toEqual([1, 1, 1]);
    const [a, i, w] = sends.map((s) => s[0]);
    expect(a.path).toBe(`/v1/projects/${fake.account.projectId}/messages:send`);
    const notification = { title: 'Future Scientists', body: 'Max_R added you' };
    const data = { event: 'chat-created', chat };
    expect(a.body).toEqual({ message: { token: android, notification, data, android: { priority: 'high' } } });
    expect(i.body).toEqual({
      message: {
        token: ios,
        notification,
        data,
        apns: { headers: { 'apns-priority': '10' }, payload: { aps: { sound: 'default' } } },
      },
    });
    expect(w.body).toEqual({ message: { token: web, notification, data, webpush: { headers: { Urgency: 'high' } } } });

    // One token for the three sends, obtained with an RS256 assertion the token server verified.
    const tokenRequests = fake.tokenRequests.slice(tokenRequestsBefore);
    expect(tokenRequests.map((r) => r.status)).toEqual([200]);
    const { claims, header } = tokenRequests[0];
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(claims).toMatchObject({ iss: fake.account.clientEmail, aud: fake.tokenUrl, scope: FCM_SCOPE });
    expect((claims!.exp as number) - (claims!.iat as number)).toBe(3600);
    expect(new Set([a, i, w].map((s) => s.authorization))).toEqual(new Set([expect.stringMatching(/^Bearer ya29\.fake-/)]));

    await settle(100);
    const [row] = await outbox(t, user.id);
    expect(row).toMatchObject({ sent: true, failed: false, attempts: 1, lastError: null });
    expect([...row.deliveredTokens].sort()).toEqual([android, ios, web].sort());
  });

  it('leaves chat out of data for an event that is not about a chat', async () => {
    const user = await t.user();
    const token = await registerDevice(t, user, 'android');
    await push(t, [user.id], message({ event: 'score-updated', chat: null, title: 'Score', body: '+5' }));
    await drain(t, user.id);
    expect(fake.delivered(token).map((s) => s.body.message.data)).toEqual([{ event: 'score-updated' }]);
  });

  it('reuses the access token until shortly before it expires, then gets a new one', async () => {
    await withFreshApp(async (app) => {
      fake.tokenLifetimeSeconds = 2;
      const user = await app.user();
      const token = await registerDevice(app, user, 'android');
      const before = fake.tokenRequests.length;

      await push(app, [user.id], message({ title: 'one' }));
      await drain(app, user.id);
      await push(app, [user.id], message({ title: 'two' }));
      await drain(app, user.id);
      expect(fake.tokenRequests.length - before).toBe(1);
      const [first, second] = fake.delivered(token);
      expect(second.authorization).toBe(first.authorization);

      await settle(2100); // past expires_in (2 s)
      await push(app, [user.id], message({ title: 'three' }));
      await drain(app, user.id);
      fake.tokenLifetimeSeconds = 3600;
      expect(fake.tokenRequests.length - before).toBe(2);
      const sends = fake.sends.filter((s) => s.token === token);
      // Never sent with the expired token: the refresh happened before the send.
      expect(sends.map((s) => [s.body.message.notification.title, s.status])).toEqual([
        ['one', 200],
        ['two', 200],
        ['three', 200],
      ]);
      expect(sends[2].authorization).not.toBe(first.authorization);
    });
  });

  it('on 401 gets a new access token once and sends again', async () => {
    const user = await t.user();
    const token = await registerDevice(t, user, 'ios');
    const before = fake.tokenRequests.length;
    fake.revokeAccessTokens();
    await push(t, [user.id], message());
    const [row] = await drain(t, user.id);
    const sends = fake.sends.filter((s) => s.token === token);
    expect(sends.map((s) => s.status)).toEqual([401, 200]);
    expect(sends[1].authorization).not.toBe(sends[0].authorization);
    expect(fake.tokenRequests.length - before).toBe(1);
    expect(row).toMatchObject({ sent: true, attempts: 1 });
  });

  it('429 with Retry-After: waits as told, then delivers exactly once', async () => {
    const user = await t.user();
    const token = await registerDevice(t, user, 'android');
    fake.failNext(token, { status: 429, retryAfter: 2 });
    await push(t, [user.id], message());
    await t.deps.pushWorker.runOnce();

    let [row] = await outbox(t, user.id);
    expect(row).toMatchObject({ sent: false, failed: false, attempts: 1 });
    expect(row.lastError).toMatch(/429 QUOTA_EXCEEDED/);
    // Retry-After (2 s) wins over the first backoff step (1 s).
    expect(row.dueInMs).toBeGreaterThan(1000);
    expect(row.dueInMs).toBeLessThanOrEqual(2000);

    await t.deps.pushWorker.runOnce(); // not due yet: nothing sent
    expect(fake.sends.filter((s) => s.token === token).map((s) => s.status)).toEqual([429]);

    [row] = await drain(t, user.id);
    expect(row).toMatchObject({ sent: true, attempts: 2, deliveredTokens: [token] });
    expect(fake.sends.filter((s) => s.token === token).map((s) => s.status)).toEqual([429, 200]);
    await settle(200);
    await t.deps.pushWorker.runOnce();
    expect(fake.delivered(token)).toHaveLength(1);
  });

  it('500 and 503 are retried with growing backoff until delivered', async () => {
    const user = await t.user();
    const token = await registerDevice(t, user, 'android');
    fake.failNext(token, { status: 500 }, { status: 503 });
    await push(t, [user.id], message());
    await t.deps.pushWorker.runOnce();
    let [row] = await outbox(t, user.id);
    expect(row.lastError).toMatch(/500 INTERNAL/);
    expect(row.dueInMs).toBeGreaterThan(0);
    expect(row.dueInMs).toBeLessThanOrEqual(1000);

    while ((await outbox(t, user.id))[0].dueInMs > 0) await settle(50);
    await t.deps.pushWorker.runOnce();
    [row] = await outbox(t, user.id);
    expect(row).toMatchObject({ sent: false, attempts: 2 });
    expect(row.lastError).toMatch(/503 UNAVAILABLE/);
    expect(row.dueInMs).toBeGreaterThan(1000); // 2 s after the second failure

    [row] = await drain(t, user.id);
    expect(row).toMatchObject({ sent: true, attempts: 3 });
    expect(fake.sends.filter((s) => s.token === token).map((s) => s.status)).toEqual([500, 503, 200]);
  });

  it('UNREGISTERED deletes the device; the user’s other devices still get the notification', async () => {
    const user = await t.user();
    const gone = await registerDevice(t, user, 'android');
    const kept = await registerDevice(t, user, 'ios');
    fake.unregister(gone);
    await push(t, [user.id], message({ title: 'first' }));
    const [row] = await drain(t, user.id);
    expect(row).toMatchObject({ sent: true, deliveredTokens: [kept] });
    expect(await devicesOf(t, user.id)).toEqual([kept]);

    await push(t, [user.id], message({ title: 'second' }));
    await drain(t, user.id);
    expect(fake.sends.filter((s) => s.token === gone).map((s) => s.status)).toEqual([404]);
    expect(fake.delivered(kept).map((s) => s.body.message.notification.title)).toEqual(['first', 'second']);
  });

  it('INVALID_ARGUMENT about the token deletes the device; about the message gives up without deleting', async () => {
    const user = await t.user();
    const badToken = await registerDevice(t, user, 'android');
    const badMessage = await registerDevice(t, user, 'web');
    fake.failNext(badToken, { status: 400, code: 'INVALID_ARGUMENT', about: 'token' });
    fake.failNext(badMessage, { status: 400, code: 'INVALID_ARGUMENT', about: 'payload' });
    await push(t, [user.id], message());
    const [row] = await drain(t, user.id);
    // Neither is retried: the row is finished after one attempt.
    expect(row).toMatchObject({ sent: true, attempts: 1 });
    expect(await devicesOf(t, user.id)).toEqual([badMessage]);
    expect(fake.sends.filter((s) => s.token === badToken || s.token === badMessage)).toHaveLength(2);
  });

  it('SENDER_ID_MISMATCH (a token of another Firebase project) deletes the device', async () => {
    const user = await t.user();
    const token = await registerDevice(t, user, 'android');
    fake.failNext(token, { status: 403, code: 'SENDER_ID_MISMATCH' });
    await push(t, [user.id], message());
    await drain(t, user.id);
    expect(await devicesOf(t, user.id)).toEqual([]);
  });

  it('a failing token endpoint keeps the row, which is delivered once a token is had', async () => {
    await withFreshApp(async (app) => {
      const user = await app.user();
      const token = await registerDevice(app, user, 'android');
      fake.failTokenEndpoint(503);
      await push(app, [user.id], message());
      await app.deps.pushWorker.runOnce();
      let [row] = await outbox(app, user.id);
      expect(row).toMatchObject({ sent: false, failed: false, attempts: 1 });
      expect(row.lastError).toMatch(/access token: token endpoint answered 503/);
      expect(fake.sends.filter((s) => s.token === token)).toEqual([]);

      [row] = await drain(app, user.id);
      expect(row).toMatchObject({ sent: true, attempts: 2 });
      expect(fake.delivered(token)).toHaveLength(1);
    });
  });

  it('a user without devices gets no row; a row whose devices are gone by then is finished without any request', async () => {
    const user = await t.user();
    const title = unique('nobody-listens-');
    await push(t, [user.id], message({ title }));
    expect(await outbox(t, user.id)).toEqual([]);
    // The row of a user whose last device was removed after the row was written.
    await t.deps.database.db.execute(
      sql`insert into push_outbox (user_id, event, title, body) values (${user.id}, 'message-created', ${title}, 'b')`,
    );
    const [row] = await drain(t, user.id);
    expect(row).toMatchObject({ sent: true, attempts: 1, deliveredTokens: [] });
    expect(fake.sends.filter((s) => s.body?.message?.notification?.title === title)).toEqual([]);
  });

  it('refuses to start with a private key that cannot sign, naming FCM_CREDENTIALS', async () => {
    const credentials = JSON.parse(fake.env().FCM_CREDENTIALS);
    const env = { ...fake.env(), ...database.env };
    env.FCM_CREDENTIALS = JSON.stringify({ ...credentials, private_key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n' });
    await expect(startApp(env)).rejects.toThrow(/Invalid configuration: FCM_CREDENTIALS/);
  });

  it('accepts the key with its newlines written as \\n, as env files often carry it', async () => {
    const credentials = JSON.parse(fake.env().FCM_CREDENTIALS);
    const flattened = { ...credentials, private_key: credentials.private_key.replace(/\n/g, '\\n') };
    await withFreshApp(async (app) => {
      const user = await app.user();
      const token = await registerDevice(app, user, 'android');
      await push(app, [user.id], message());
      await drain(app, user.id);
      expect(fake.delivered(token)).toHaveLength(1);
    }, { FCM_CREDENTIALS: JSON.stringify(flattened) });
  });
});
