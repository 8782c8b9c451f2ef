// Fixtures of the chats tests: users, follows, chats and messages made through the public API.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { expect } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { unique, type TestApp, type TestUser } from './helpers/app.js';

export const STUDY_TAGS = [
  { tag: 'exams', label: 'Exams' },
  { tag: 'lectures', label: 'Lectures & Summaries' },
];

/** A socket id as a client would send it (rulings.md 7). */
export const socketIdOf = (socket: { id?: string }) => socket.id!;

/** A user registered with a photo (t.user() makes them without one). */
export async function userWithPhoto(t: TestApp, name?: string): Promise<TestUser & { photo: string }> {
  const username = unique('photo_');
  const photo = `https://cdn.example.com/users/${username}.jpg`;
  const res = await t.app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { name: name ?? `Name ${username}`, username, password: 'password123', photo },
  });
  expect(res.statusCode).toBe(201);
  const body = res.json();
  return {
    id: body.user._id,
    name: body.user.name,
    username,
    token: body.token,
    auth: { authorization: `Bearer ${body.token}` },
    photo,
  };
}

export async function follow(t: TestApp, follower: TestUser, ...followees: TestUser[]) {
  for (const followee of followees) {
    const res = await t.app.inject({ method: 'POST', url: `/users/${followee.id}/follow`, headers: follower.auth });
    expect(res.statusCode).toBe(200);
  }
}

export async function block(t: TestApp, blocker: TestUser, blocked: TestUser) {
  const res = await t.app.inject({ method: 'POST', url: `/users/${blocked.id}/block`, headers: blocker.auth });
  expect(res.statusCode).toBe(200);
}

/** A meet-me connection from `requester` to `user`, accepted by `user` unless told otherwise. */
export async function connection(t: TestApp, requester: TestUser, user: TestUser, status: 'accepted' | 'rejected' | 'pending' = 'accepted') {
  const res = await t.app.inject({ method: 'POST', url: '/connections', headers: requester.auth, payload: { user: user.id } });
  expect(res.statusCode).toBe(201);
  const id: string = res.json().connection._id;
  if (status !== 'pending') {
    const answer = await t.app.inject({
      method: 'POST',
      url: `/connections/${id}/status`,
      headers: user.auth,
      payload: { status },
    });
    expect(answer.statusCode).toBe(200);
  }
  return id;
}

export async function createChat(t: TestApp, viewer: TestUser, payload: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/chats', headers: viewer.auth, payload });
}

/** A one-to-one chat of a and b (a follows b first); returns the chat document. */
export async function oneToOne(t: TestApp, a: TestUser, b: TestUser) {
  await follow(t, a, b);
  const res = await createChat(t, a, { user: b.id });
  expect([200, 201]).toContain(res.statusCode);
  return res.json().chat;
}

/** A group chat created by `creator` with `members` (followed first); returns the chat document. */
export async function group(t: TestApp, creator: TestUser, members: TestUser[], extra: Record<string, unknown> = {}) {
  await follow(t, creator, ...members);
  const res = await createChat(t, creator, {
    isGroup: true,
    name: `Group ${unique('g')}`,
    category: 'Study',
    participants: members.map((m) => m.id),
    ...extra,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().chat;
}

export async function postMessage(t: TestApp, user: TestUser, chatId: string, text = 'hello') {
  const res = await t.app.inject({ method: 'POST', url: `/chats/${chatId}/messages`, headers: user.auth, payload: { text } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().message;
}

export async function listChats(t: TestApp, user: TestUser, query = '') {
  const res = await t.app.inject({ url: `/chats${query}`, headers: user.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { chats: any[]; count: number };
}

export async function dbRows<T = Record<string, unknown>>(t: TestApp, query: ReturnType<typeof sql>) {
  return rows<T>(t.deps.database.db, query);
}

/** A multipart/form-data body for app.inject. */
export function multipart(
  fields: Record<string, string>,
  file?: { field?: string; fileName: string; contentType: string; data: Buffer },
) {
  const boundary = `----chats${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'photo'}"; filename="${file.fileName}"\r\n` +
          `Content-Type: ${file.contentType}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export async function image(format: 'png' | 'jpeg' | 'webp' | 'avif' | 'gif', size = 8): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#3a7' } })
    .toFormat(format)
    .toBuffer();
}

/** A PNG of roughly `bytes` bytes (noise does not compress). */
export async function bigPng(bytes: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt(bytes / 3));
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

export async function waitFor(check: () => Promise<boolean>, ms = 3000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
