// Socket.IO on the app's HTTP server: JWT checked at the handshake, one room per user, presence,
// and the `notify` port services use (through Effects, after commit).
import type { Server as HttpServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { TokenService } from '../auth/tokens.js';
import type { ChatListInvalidation } from '../chats/list-cache.js';
import { isId } from '../shared/ids.js';
import type { NotifyOptions, Presence, Realtime } from './port.js';

const USER_ROOM = 'user:';
export const userRoom = (userId: string) => USER_ROOM + userId;

/**
 * The room of one socket of one user (rulings.md 7): a request's `socket` is excluded from its
 * events as this room, which only that user's socket of that id joins, so naming the socket of
 * somebody else keeps nobody from an event.
 */
export const viewerSocketRoom = (userId: string, socketId: string) => `socket:${userId}:${socketId}`;

/** The user of a userRoom, or null for another room. */
export const roomUser = (room: unknown): string | null =>
  typeof room === 'string' && room.startsWith(USER_ROOM) ? room.slice(USER_ROOM.length) : null;

export interface SocketServerOptions {
  httpServer: HttpServer;
  tokens: TokenService;
  presence: Presence;
  log: FastifyBaseLogger;
  corsOrigins: string[] | true;
  recoveryWindowMs: number;
  adapter?: ServerOptions['adapter'];
  /** Users who share a chat with this user: they hear of its presence changes. */
  contactsOf(userId: string): Promise<string[]>;
  /**
   * The cached GET /chats answers (src/chats/list-cache.ts): every event to a user and every
   * presence change a user is told of may change what their list shows.
   */
  chatLists: ChatListInvalidation;
  /** The chat's other participants when userId is one of them, else null. */
  chatPeers(chatId: string, userId: string): Promise<string[] | null>;
}

export interface SocketServer extends Realtime {
  io: Server;
  /**
   * Shutdown, first step (before the HTTP server closes): ends every connection as a transport
   * close, which clients answer by reconnecting (to another node behind the load balancer) with
   * connection state recovery, and waits for the presence updates and announcements it causes.
   */
  drain(): Promise<void>;
  /** Shutdown, last step (after in-flight requests finished): the adapter and presence. */
  close(): Promise<void>;
}

interface SocketData {
  userId: string;
}

export function createSocketServer(options: SocketServerOptions): SocketServer {
  const { presence, log } = options;
  const io = new Server<any, any, any, SocketData>(options.httpServer, {
    cors: { origin: options.corsOrigins, credentials: true },
    adapter: options.adapter,
    // Small frames are not worth compressing; it costs CPU on every broadcast.
    perMessageDeflate: false,
    connectionStateRecovery:
      options.recoveryWindowMs > 0
        ? { maxDisconnectionDuration: options.recoveryWindowMs, skipMiddlewares: true }
        : undefined,
  });

  io.use(async (socket, next) => {
    const token = socket.handshake.auth?.token ?? bearer(socket.handshake.headers.authorization);
    let userId: string | null;
    try {
      userId = typeof token === 'string' ? await options.tokens.verify(token) : null;
    } catch {
      // The database could not say whether the token's user exists: not the token's fault, and a
      // client told "unauthorized" would sign its user out.
      return next(new Error('service unavailable'));
    }
    if (!userId) return next(new Error('unauthorized'));
    socket.data.userId = userId;
    next();
  });

  // Presence work still running (Redis round trips, contact lookups, emits): drain() waits for it.
  const pending = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  const announce = async (userId: string, isOnline: boolean) => {
    // The user's own list shows their isOnline too; the presence store has changed already, so
    // reading it again shows the new state. No event goes to the user: published.
    options.chatLists.presenceChanged([userId]);
    try {
      const contacts = await options.contactsOf(userId);
      // A later transition of this user, here or on another node, came while the contacts were
      // read: its own announcement tells the state, this one would only put it out of date.
      const now = presence.onlineNow([userId]);
      if (now && now.has(userId) !== isOnline) return;
      if (contacts.length > 0) {
        // Their lists show this user's isOnline: marked for a presence read before they hear of
        // the change (on the other nodes, by the event itself; ChatListCache.heard).
        const payload = { user: userId, isOnline };
        options.chatLists.heard(contacts, 'presence', payload);
        io.to(contacts.map(userRoom)).emit('presence', payload);
      }
    } catch (error) {
      log.warn({ err: error, userId }, 'presence announcement failed');
    }
  };

  // A user's announcements go out in the order of their transitions: each waits for the one
  // before, as announce() reads the contacts first, and a socket closed right after it connected
  // could otherwise have its "offline" sent before its "online" (watchers then kept it online).
  const announcing = new Map<string, Promise<void>>();
  const announceInOrder = (userId: string, isOnline: boolean): Promise<void> => {
    const next = (announcing.get(userId) ?? Promise.resolve()).then(() => announce(userId, isOnline));
    announcing.set(userId, next);
    void next.finally(() => {
      if (announcing.get(userId) === next) announcing.delete(userId);
    });
    return next;
  };

  // A dead node's users (reaped by this node's presence heartbeat) go offline for their contacts.
  presence.onTransition?.((userIds, isOnline) => {
    track(
      (async () => {
        for (const userId of userIds) await announceInOrder(userId, isOnline);
      })(),
    );
  });

  io.on('connection', (socket: Socket<any, any, any, SocketData>) => {
    const userId = socket.data.userId;
    // A recovered socket keeps its rooms; joining again is harmless.
    socket.join([userRoom(userId), viewerSocketRoom(userId, socket.id)]);
    track(
      presence.connect(userId, socket.id).then(
        async (cameOnline) => {
          if (cameOnline) await announceInOrder(userId, true);
        },
        (error) => log.warn({ err: error }, 'presence connect failed'),
      ),
    );
    socket.on('disconnect', () => {
      track(
        presence.disconnect(userId, socket.id).then(
          async (wentOffline) => {
            if (wentOffline) await announceInOrder(userId, false);
          },
          (error) => log.warn({ err: error }, 'presence disconnect failed'),
        ),
      );
    });
    socket.on('typing', async (payload: unknown) => {
      const chat = (payload as { chat?: unknown } | null)?.chat;
      if (!isId(chat)) return;
      try {
        const peers = await options.chatPeers(chat, userId);
        if (peers && peers.length > 0) io.to(peers.map(userRoom)).emit('typing', { chat, user: userId });
      } catch (error) {
        log.warn({ err: error }, 'typing relay failed');
      }
    });
  });

  return {
    io,
    notify(userIds: string[], event: string, payload: unknown, notifyOptions?: NotifyOptions) {
      if (userIds.length === 0) return;
      // Every change a client can see in its chat list comes with an event to it: its cached list
      // is dropped (or patched, for a message) before the event leaves, whatever exceptSocket
      // says; on the other nodes, when the adapter hands them the event (src/realtime/redis.ts
      // listsHearRemoteEvents).
      options.chatLists.heard(userIds, event, payload);
      let target = io.to(userIds.map(userRoom));
      if (notifyOptions?.exceptSocket) target = target.except(notifyOptions.exceptSocket);
      target.emit(event, payload);
    },
    onlineUsers: (userIds: string[]) => presence.online(userIds),
    onlineUsersNow: (userIds: string[]) => presence.onlineNow(userIds),
    async drain() {
      // Not io.disconnectSockets(true): its DISCONNECT packet means "server kicked you" and
      // socket.io-client does not reconnect after it. Closing the transports is a recoverable
      // disconnect: the session is kept (in Redis with the streams adapter) for the recovery window.
      // Not io.close() either: that also closes the HTTP server, which Fastify owns.
      io.engine.close();
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async close() {
      io.engine.close();
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await io.of('/').adapter.close();
      await presence.close();
    },
  };
}

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}
