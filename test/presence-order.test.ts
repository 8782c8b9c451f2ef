// Presence announcements of one user go out in the order of the user's transitions
// (src/realtime/server.ts announceInOrder), and one that a later transition overtook is not sent.
// The socket server alone, on the in-memory presence, with the contacts read slowly for an
// "online": the read that let a quick connect-then-close send its "offline" first.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatListInvalidation } from '../src/chats/list-cache.js';
import { LocalPresence } from '../src/realtime/presence-local.js';
import { createSocketServer, type SocketServer } from '../src/realtime/server.js';
import { newId } from '../src/shared/ids.js';
import { settle } from './helpers/app.js';

const USER = newId();
const FRIEND = newId();
let http: HttpServer;
let server: SocketServer;
let presence: LocalPresence;
/** How long the next contacts read of an "online" announcement takes. */
let onlineReadMs = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  http = createServer();
  presence = new LocalPresence();
  const lists: ChatListInvalidation = { invalidate() {}, presenceChanged() {}, drop() {}, heard() {} } as unknown as ChatListInvalidation;
  server = createSocketServer({
    httpServer: http,
    // The token is the user id (the tokens have their own tests).
    tokens: { canSign: false, sign: async () => '', verify: async (token: string) => token },
    presence,
    log: pino({ level: 'silent' }),
    corsOrigins: true,
    recoveryWindowMs: 0,
    async contactsOf(userId) {
      if (userId !== USER) return [USER];
      if ((await presence.online([USER])).has(USER) && onlineReadMs > 0) await settle(onlineReadMs);
      return [FRIEND];
    },
    chatLists: lists,
    chatPeers: async () => null,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await server?.close();
  http?.close();
});

function open(userId: string): Promise<Socket> {
  const socket = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
    auth: { token: userId },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  sockets.push(socket);
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

describe('presence announcements of one user', () => {
  it('a socket closed while its "online" is still being announced leaves its contacts with the user offline', async () => {
    const friend = await open(FRIEND);
    const saw: Array<{ user: string; isOnline: boolean }> = [];
    friend.on('presence', (payload) => saw.push(payload));
    onlineReadMs = 100;
    const flap = await open(USER);
    flap.disconnect();
    await settle(400);
    // Without the order, "offline" (read at once) went out first and the late "online" last.
    expect(saw.at(-1) ?? { user: USER, isOnline: false }).toEqual({ user: USER, isOnline: false });
    expect(saw.filter((p) => p.isOnline)).toEqual([]);

    // Online again, and staying: announced.
    onlineReadMs = 0;
    await open(USER);
    await settle(200);
    expect(saw.at(-1)).toEqual({ user: USER, isOnline: true });
  });
});
