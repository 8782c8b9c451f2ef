// rulings.md 4: bad input is a 400 naming the field, "a 500 is always a bug"; rulings.md 5: every
// page ≥ 1 is a page. Inputs found by a black-box audit that used to reach PostgreSQL or the
// upload path unchecked.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NESTING } from '../src/app.js';
import { sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { startApp, unique, type TestApp, type TestUser } from './helpers/app.js';
import { dbRows, group, image, multipart as chatForm } from './chats-fixtures.js';
import { api, multipart, png } from './helpers/messages-fixtures.js';

let t: TestApp;
let a: TestUser;
let chatId: string;
beforeAll(async () => {
  t = await startApp();
  a = await t.user();
  chatId = (await group(t, a, [await t.user()]))._id;
});
afterAll(() => t?.close());

const NUL = '\u0000';

function expectField(res: { statusCode: number; body: string; json(): any }, field: string) {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field });
}

describe('the NUL character (PostgreSQL text cannot hold it)', () => {
  it.each([
    ['/chats?search=abc%00', 'search'],
    ['/chats/explore/communities?search=abc%00', 'search'],
    ['/chats/explore/communities?search=abc&category=%00', 'category'],
    ['/chats/:chat/files?tag=%00', 'tag'],
  ])('in a query: GET %s is a 400 naming %s', async (url, field) => {
    expectField(await api(t, a, 'GET', url.replace(':chat', chatId)), field);
  });

  it('in a JSON body, at any depth, is a 400 naming the field; nothing is written', async () => {
    const username = unique('nul');
    expectField(await api(t, null, 'POST', '/auth/register', { name: `a${NUL}b`, username, password: 'password123' }), 'name');
    expectField(await api(t, null, 'POST', '/auth/login', { username: `a${NUL}b`, password: 'password123' }), 'username');
    const messages = `/chats/${chatId}/messages`;
    expectField(await api(t, a, 'POST', messages, { text: `hi${NUL}` }), 'text');
    expectField(await api(t, a, 'POST', messages, { files: [{ url: 'https://x.example/a.jpg', meta: { note: NUL } }] }), 'files.0.meta.note');
    expectField(await api(t, a, 'POST', messages, { files: [{ url: 'https://x.example/a.jpg', tag: NUL }] }), 'files.0.tag');
    expectField(await api(t, a, 'POST', '/devices', { token: `tok${NUL}en`, platform: 'ios' }), 'token');

    const [users] = await dbRows<{ n: number }>(t, sql`select count(*)::int as n from users where username = ${username}`);
    expect(users.n).toBe(0);
    const [written] = await dbRows<{ n: number }>(t, sql`select count(*)::int as n from messages where chat_id = ${chatId}`);
    expect(written.n).toBe(0);
  });

  it('in a path parameter is a 400 naming it', async () => {
    expectField(await api(t, a, 'DELETE', '/devices/tok%00en'), 'token');
  });

  it('in a PUT /chats/:id form field is a 400 naming it, and the chat keeps its name', async () => {
    const form = chatForm({ name: `New${NUL}name` });
    const res = await t.app.inject({ method: 'PUT', url: `/chats/${chatId}`, headers: { ...a.auth, ...form.headers }, payload: form.payload });
    expectField(res, 'name');
    const chat = (await api(t, a, 'GET', `/chats/${chatId}`)).json().chat;
    expect(chat.name).not.toContain(NUL);
  });
});

describe('pages far past the end (rulings.md 5: page ≥ 1)', () => {
  it.each(['/chats', '/chats/explore/communities?search=nothing-matches-this', '/chats/:chat/files'])(
    'GET %s answers an empty page with the count for page 1,000,001 and 2^53 - 1',
    async (url) => {
      const base = url.replace(':chat', chatId);
      const joiner = base.includes('?') ? '&' : '?';
      const first = (await api(t, a, 'GET', base)).json();
      for (const page of [1_000_001, Number.MAX_SAFE_INTEGER]) {
        const res = await api(t, a, 'GET', `${base}${joiner}page=${page}`);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json();
        const list = body.chats ?? body.files;
        expect(list).toEqual([]);
        expect(body.count).toBe(first.count);
      }
    },
  );

  it('answers 400 for a page no longer exact as a number', async () => {
    expectField(await api(t, a, 'GET', `/chats?page=${2 ** 53}`), 'page');
  });
});

describe('multipart parts', () => {
  it('an upload whose part has no file name is stored as "file" with the extension of its content', async () => {
    const body = multipart([{ name: 'file', contentType: 'application/octet-stream', content: await png() }]);
    const res = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/uploads`, headers: { ...a.auth, ...body.headers }, payload: body.payload });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().file.meta).toMatchObject({ mediaType: 'image', fileName: 'file' });
    expect(res.json().file.url).toMatch(/-file\.png$/);
  });

  it('an upload file name loses its control characters', async () => {
    const body = multipart([{ name: 'file', filename: `sl${NUL}ide\u0007s.png`, contentType: 'image/png', content: await png() }]);
    const res = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/uploads`, headers: { ...a.auth, ...body.headers }, payload: body.payload });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().file.meta.fileName).toBe('slides.png');
  });

  it.each([
    ['PUT', '/chats/:chat', 'photo'],
    ['POST', '/chats/:chat/uploads', 'file'],
  ])('%s %s with a body cut off, or without a boundary, is a 400 naming the body', async (method, url, field) => {
    const photo = await png();
    const boundary = 'cut-off-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`;
    const bodies = [
      { type: `multipart/form-data; boundary=${boundary}`, payload: Buffer.concat([Buffer.from(head), photo]) },
      { type: `multipart/form-data; boundary=${boundary}`, payload: Buffer.from(`--${boundary}\r\nbroken`) },
      { type: 'multipart/form-data', payload: Buffer.concat([Buffer.from(head), photo]) },
    ];
    for (const body of bodies) {
      const res = await t.app.inject({
        method: method as 'PUT' | 'POST',
        url: url.replace(':chat', chatId),
        headers: { ...a.auth, 'content-type': body.type },
        payload: body.payload,
      });
      expectField(res, 'body');
    }
  });

  it('PUT /chats/:id with two photo parts is a 400 naming photo, not a 413', async () => {
    const photo = await image('png');
    const parts = [1, 2].map((i) => ({ name: 'photo', filename: `p${i}.png`, contentType: 'image/png', content: photo }));
    const form = multipart(parts);
    const res = await t.app.inject({ method: 'PUT', url: `/chats/${chatId}`, headers: { ...a.auth, ...form.headers }, payload: form.payload });
    expectField(res, 'photo');
  });
});

describe('nesting', () => {
  const nested = (levels: number) => {
    let meta: Record<string, unknown> = { end: true };
    for (let i = 0; i < levels; i++) meta = { a: meta };
    return meta;
  };

  it(`a free-form meta nested past ${MAX_NESTING} levels is a 400 naming where, not a 500; nothing is written`, async () => {
    const messages = `/chats/${chatId}/messages`;
    for (const levels of [MAX_NESTING, 5000]) {
      // Written out as text: JSON.stringify of an object this deep overflows the test's own stack.
      const meta = `${'{"a":'.repeat(levels)}{"end":true}${'}'.repeat(levels)}`;
      const payload = `{"files":[{"url":"https://x.example/a.jpg","meta":${meta}}]}`;
      const res = await t.app.inject({ method: 'POST', url: messages, headers: { ...a.auth, 'content-type': 'application/json' }, payload });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: expect.stringMatching(/^files\.0\.meta(\.a)+$/) });
      expect(res.json().message).toContain(`must not nest deeper than ${MAX_NESTING} levels`);
    }
    const [written] = await dbRows<{ n: number }>(t, sql`select count(*)::int as n from messages where chat_id = ${chatId}`);
    expect(written.n).toBe(0);
  });

  it('meta nested as deep as a client needs is kept whole', async () => {
    const other = await group(t, a, [await t.user()]);
    const res = await api(t, a, 'POST', `/chats/${other._id}/messages`, { files: [{ url: 'https://x.example/a.jpg', meta: nested(20) }] });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().message.files[0].meta).toEqual(nested(20));
  });
});

describe('dates PostgreSQL cannot store', () => {
  const event = (startsAt: string) => ({ name: 'Meetup', startsAt, endsAt: '2030-01-01T12:00:00.000Z' });

  it.each([
    '0000-01-01T00:00:00.000Z', // no year 0 in timestamptz
    '2026-01-01T10:00:00+16:00', // offsets reach ±15:59
    '0001-01-01T00:30:00+01:00', // before year 1 in UTC
  ])('POST /events with startsAt %s is a 400 naming startsAt, no event written', async (startsAt) => {
    expectField(await api(t, a, 'POST', '/events', event(startsAt)), 'startsAt');
  });

  it('GET /sync?since= a year 0 date is a 400 naming since; the first moment of year 1 is a date', async () => {
    expectField(await api(t, a, 'GET', '/sync?since=0000-01-01T00:00:00.000Z'), 'since');
    expect((await api(t, a, 'GET', '/sync?since=0001-01-01T00:00:00.000Z')).statusCode).toBe(200);
    expect((await api(t, a, 'GET', `/sync?since=${encodeURIComponent('2026-01-01T10:00:00+15:59')}`)).statusCode).toBe(200);
  });
});

describe('an empty body sent as JSON', () => {
  it('is no body: POST /chats/:id/read answers as without the header; a route that needs fields names them', async () => {
    const json = { ...a.auth, 'content-type': 'application/json' };
    const read = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/read`, headers: json, payload: '' });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toEqual({ success: true });
    const login = await t.app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(login.statusCode, login.body).toBe(400);
    expect(login.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'username' });
    // Broken JSON is still broken.
    const broken = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/read`, headers: json, payload: '{' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('INVALID_JSON');
  });
});

describe('a token that verifies but names no user', () => {
  let ghost: TestUser;
  beforeAll(async () => {
    const id = newId();
    const token = await t.deps.tokens.sign(id);
    ghost = { id, name: 'ghost', username: 'ghost', token, auth: { authorization: `Bearer ${token}` } };
  });

  it('is a 401 UNAUTHORIZED like a forged one, on routes that would have written rows for it', async () => {
    for (const [method, url] of [
      ['POST', `/users/${a.id}/follow`],
      ['POST', `/users/${a.id}/block`],
      ['POST', `/chats/${chatId}/requests`],
      ['GET', '/chats'],
      ['GET', '/users/me'],
    ] as const) {
      const res = await api(t, ghost, method, url, method === 'POST' ? {} : undefined);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(401);
      expect(res.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    }
    const [rows] = await dbRows<{ n: number }>(t, sql`select count(*)::int as n from follows where follower_id = ${ghost.id}`);
    expect(rows.n).toBe(0);
  });

  it('is refused at the Socket.IO handshake with "unauthorized"', async () => {
    await expect(t.socket(ghost)).rejects.toThrow('unauthorized');
  });
});

describe('requests the HTTP parser refuses before any route', () => {
  /** Sends raw bytes and reads the whole answer, until the server closes. */
  const raw = (text: string) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const { port } = new URL(t.url);
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(text));
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.on('error', reject).on('close', () => {
        const [head, body] = answer.split('\r\n\r\n');
        resolve({ status: Number(head.split(' ')[1]), body: JSON.parse(body) });
      });
    });

  it('headers over the limit: 431 with the error body and code HEADERS_TOO_LARGE', async () => {
    const res = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res).toEqual({
      status: 431,
      body: { statusCode: 431, error: 'Request Header Fields Too Large', code: 'HEADERS_TOO_LARGE', message: expect.any(String) },
    });
  });

  it('bytes that are not HTTP: 400 with code BAD_REQUEST', async () => {
    const res = await raw('HELLO THERE\r\n\r\n');
    expect(res).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', code: 'BAD_REQUEST', message: expect.any(String) } });
  });
});

describe('strings that are not well-formed Unicode, and their cuts', () => {
  /** Sent as JSON text, so that the escape \ud800 reaches the server as a lone surrogate. */
  const rawJson = (user: TestUser | null, url: string, text: string) =>
    t.app.inject({ method: 'POST', url, headers: { ...(user?.auth ?? {}), 'content-type': 'application/json' }, payload: text });

  it('a lone UTF-16 surrogate in a meta value or key, a text, a password is a 400 naming the field (meta was a 500)', async () => {
    const messages = `/chats/${chatId}/messages`;
    expectField(await rawJson(a, messages, '{"files":[{"url":"https://x.example/a.mp4","meta":{"k":"\\ud800"}}]}'), 'files.0.meta.k');
    expectField(await rawJson(a, messages, '{"files":[{"url":"https://x.example/a.mp4","meta":{"\\udc00":1}}]}'), 'files.0.meta.\udc00');
    expectField(await rawJson(a, messages, '{"text":"cut \\ud83d"}'), 'text');
    // Text columns would have stored U+FFFD, making every such password the same one.
    const username = unique('sur');
    expectField(await rawJson(null, '/auth/register', `{"name":"n","username":"${username}","password":"\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800"}`), 'password');
    const [written] = await dbRows<{ n: number }>(t, sql`select count(*)::int as n from messages where chat_id = ${chatId}`);
    expect(written.n).toBe(0);
    // A surrogate pair (an emoji) is of course fine.
    const other = await group(t, a, [await t.user()]);
    const ok = await rawJson(a, `/chats/${other._id}/messages`, '{"text":"\\ud83d\\ude00","files":[{"url":"https://x.example/a.mp4","meta":{"k":"\\ud83d\\ude00"}}]}');
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json().message.files[0].meta.k).toBe('😀');
  });

  it('an upload name of 1,000 emoji keeps its last 255 characters whole, and the answer goes into a message', async () => {
    const body = multipart([{ name: 'file', filename: `${'😀'.repeat(1000)}.png`, contentType: 'image/png', content: await png() }]);
    const res = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/uploads`, headers: { ...a.auth, ...body.headers }, payload: body.payload });
    expect(res.statusCode, res.body).toBe(201);
    const { fileName } = res.json().file.meta;
    expect([...fileName]).toHaveLength(255);
    expect(fileName).toBe(`${'😀'.repeat(251)}.png`);
    const other = await group(t, a, [await t.user()]);
    const sent = await api(t, a, 'POST', `/chats/${other._id}/messages`, { files: [res.json().file] });
    expect(sent.statusCode, sent.body).toBe(201);
  });

  it('PUT /chats/:id counts a name in characters as POST /chats does: 100 emoji are a name, 101 are not', async () => {
    const edited = await group(t, a, [await t.user()]);
    const put = (name: string) => {
      const form = chatForm({ name });
      return t.app.inject({ method: 'PUT', url: `/chats/${edited._id}`, headers: { ...a.auth, ...form.headers }, payload: form.payload });
    };
    const res = await put('😀'.repeat(100));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().chat.name).toBe('😀'.repeat(100));
    expectField(await put('😀'.repeat(101)), 'name');
  });
});

describe('URLs a client stores', () => {
  it.each(['javascript:alert(1)', 'file:///etc/passwd', 'https://', 'ftp://x.example/a.png'])(
    'a user photo, a message file url, a reel video of %s is a 400 naming the field',
    async (url) => {
      expectField(await api(t, null, 'POST', '/auth/register', { name: 'n', username: unique('url'), password: 'password123', photo: url }), 'photo');
      expectField(await api(t, a, 'POST', `/chats/${chatId}/messages`, { files: [{ url }] }), 'files.0.url');
      expectField(await api(t, a, 'POST', '/reels', { description: 'd', tag: 't', video: url }), 'video');
    },
  );
});

describe('the `socket` field on routes that send the viewer no event (rulings.md 7)', () => {
  const SOCKET = 'AAAAAAAAAAAAAAAAAAAA';

  it('is accepted on POST /reels, /connections, /connections/:id/status, /devices, follow, block and the reel reactions', async () => {
    const b = await t.user();
    const reel = await api(t, a, 'POST', '/reels', { description: 'd', tag: 'Fun', video: 'https://cdn.example.com/v.mp4', socket: SOCKET });
    expect(reel.statusCode, reel.body).toBe(201);
    const connection = await api(t, a, 'POST', '/connections', { user: b.id, socket: SOCKET });
    expect(connection.statusCode, connection.body).toBe(201);
    const answered = await api(t, b, 'POST', `/connections/${connection.json().connection._id}/status`, { status: 'accepted', socket: SOCKET });
    expect(answered.statusCode, answered.body).toBe(200);
    const token = `device-${unique()}`;
    expect((await api(t, a, 'POST', '/devices', { token, platform: 'web', socket: SOCKET })).statusCode).toBe(200);
    expect((await api(t, a, 'DELETE', `/devices/${token}`, { socket: SOCKET })).statusCode).toBe(200);
    for (const verb of ['follow', 'block']) {
      expect((await api(t, a, 'POST', `/users/${b.id}/${verb}`, { socket: SOCKET })).statusCode).toBe(200);
      expect((await api(t, a, 'DELETE', `/users/${b.id}/${verb}`, { socket: SOCKET })).statusCode).toBe(200);
    }
    const reelId = reel.json().reel._id;
    expect((await api(t, b, 'POST', `/reels/${reelId}/like`, { socket: SOCKET })).statusCode).toBe(200);
    expect((await api(t, b, 'DELETE', `/reels/${reelId}/like`, { socket: SOCKET })).statusCode).toBe(200);
  });

  it('that does not match the pattern is a 400 naming it there too', async () => {
    const b = await t.user();
    expectField(await api(t, a, 'POST', '/connections', { user: b.id, socket: 'not a socket!' }), 'socket');
    expectField(await api(t, a, 'POST', `/users/${b.id}/follow`, { socket: 'short' }), 'socket');
    expectField(await api(t, a, 'POST', '/devices', { token: `device-${unique()}`, platform: 'ios', socket: '' }), 'socket');
  });
});
