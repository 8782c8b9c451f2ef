// Fixtures of the messages, uploads and files tests: chats made through POST /chats, devices that
// record their socket events, multipart bodies, and a few real media files.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { rows, sql } from '../../src/db/client.js';
import type { TestApp, TestUser } from './app.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export function api(t: TestApp, user: TestUser | null, method: Method, url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url,
    headers: user ? user.auth : {},
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
}

export async function follow(t: TestApp, follower: TestUser, followee: TestUser) {
  const res = await api(t, follower, 'POST', `/users/${followee.id}/follow`);
  expect(res.statusCode).toBe(200);
}

export interface GroupOptions {
  name?: string;
  allowPublicPost?: boolean;
}

/** A group chat made through POST /chats by `creator` (an admin) with `members`. */
export async function groupChat(t: TestApp, creator: TestUser, members: TestUser[], options: GroupOptions = {}) {
  for (const m of members) await follow(t, creator, m);
  const name = options.name ?? `Group ${randomBytes(3).toString('hex')}`;
  const res = await api(t, creator, 'POST', '/chats', {
    isGroup: true,
    name,
    category: 'Study',
    participants: members.map((m) => m.id),
  });
  expect(res.statusCode, res.body).toBe(201);
  const chatId: string = res.json().chat._id;
  if (options.allowPublicPost === false) {
    // Set up as PUT /chats/:id {allowPublicPost: 'false'} would; that route is not under test here.
    await t.deps.database.db.execute(sql`update chats set allow_public_post = false where id = ${chatId}`);
  }
  return { id: chatId, name };
}

/** A one-to-one chat made through POST /chats by `a` with `b` (a follows b). */
export async function oneToOne(t: TestApp, a: TestUser, b: TestUser): Promise<string> {
  await follow(t, a, b);
  const res = await api(t, a, 'POST', '/chats', { user: b.id });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().chat._id;
}

/** Posts a message and returns it (201 expected). */
export async function send(t: TestApp, user: TestUser, chatId: string, body: Record<string, unknown>) {
  const res = await api(t, user, 'POST', `/chats/${chatId}/messages`, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().message;
}

export interface Device {
  socket: Socket;
  id: string;
  events: { event: string; payload: any }[];
}

/** A connected socket of the user that records every event it receives. */
export async function device(t: TestApp, user: TestUser): Promise<Device> {
  const socket = await t.socket(user);
  const events: Device['events'] = [];
  socket.onAny((event: string, payload: unknown) => events.push({ event, payload }));
  return { socket, id: socket.id!, events };
}

/** The payloads of `event` the device got, waiting up to `ms` for at least one. */
export async function received(d: Device, event: string, ms = 3000): Promise<any> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const hit = d.events.find((e) => e.event === event);
    if (hit) return hit.payload;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${event} within ${ms} ms (got: ${d.events.map((e) => e.event).join(', ') || 'nothing'})`);
}

export const eventsOf = (d: Device, event: string) => d.events.filter((e) => e.event === event).map((e) => e.payload);

/** A multipart/form-data body with one part per entry. */
export function multipart(parts: { name: string; filename?: string; contentType?: string; content: Buffer | string }[]) {
  const boundary = `----messages-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disposition}\r\n` +
          (part.contentType ? `Content-Type: ${part.contentType}\r\n` : '') +
          '\r\n',
      ),
    );
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** POST /chats/:id/uploads of one file in the `file` field. */
export function upload(t: TestApp, user: TestUser, chatId: string, filename: string, content: Buffer | string, contentType = 'application/octet-stream') {
  const body = multipart([{ name: 'file', filename, contentType, content }]);
  return t.app.inject({
    method: 'POST',
    url: `/chats/${chatId}/uploads`,
    headers: { ...user.auth, ...body.headers },
    payload: body.payload,
  });
}

/** A real PNG image made by sharp. */
export function png(width = 8, height = 8): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
}

/** The path part of one of our object URLs (the tests' PUBLIC_URL is not a reachable origin). */
export const pathOf = (url: string) => new URL(url).pathname;

export async function messageRow(t: TestApp, messageId: string) {
  return (
    await rows<any>(
      t.deps.database.db,
      sql`select id, chat_id, user_id, text, iso(at) as at, iso(edited_at) as edited_at, iso(deleted_at) as deleted_at,
            iso(updated_at) as updated_at from messages where id = ${messageId}`,
    )
  )[0];
}

export async function chatRow(t: TestApp, chatId: string) {
  return (
    await rows<any>(
      t.deps.database.db,
      sql`select last_message_id, iso(last_message_at) as last_message_at, iso(updated_at) as updated_at
          from chats where id = ${chatId}`,
    )
  )[0];
}

export async function participantRows(t: TestApp, chatId: string) {
  return rows<any>(
    t.deps.database.db,
    sql`select user_id, iso(activity_at) as activity_at, iso(last_read_at) as last_read_at
        from participants where chat_id = ${chatId} order by user_id`,
  );
}
