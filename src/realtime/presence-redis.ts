// Presence across nodes (rulings.md 8: online while the user has a connected socket on ANY node).
//
// Keys (prefix chat:presence: by default):
//   node:<nodeId>     '1', expiring: the node is alive while it keeps refreshing it (heartbeat)
//   nodes             set of node ids that registered sockets (so a survivor can find dead ones)
//   sockets:<nodeId>  set of '<userId>:<socketId>' of that node (what to clean when it dies)
//   user:<userId>     hash socketId -> nodeId
//   seq               the number of the last transition published
// Channel <prefix>transitions:db<n>: '<seq> <1|0> <userId> [<userId> ...]' for every user who
// comes online (first socket registered) or goes offline (last socket removed), numbered by seq.
// (Channels are shared by all databases of a Redis server: the name carries the database's number.)
//
// A user is online while its hash has a socket. A node that dies without cleaning up stops
// refreshing its key; a surviving node's next heartbeat (every 1/4 TTL; the key lives 3/4 TTL)
// removes the dead node's sockets and publishes the users left with none, so a dead node's users
// go offline, and 'presence' false reaches their contacts, within the TTL.
//
// Every node keeps the set of online users in memory, from a snapshot taken once subscribed to
// the transitions and the transitions after it (the seq says which those are, and shows a gap):
// online() is answered without a round trip, for a list of any length. While the subscription is
// down (Redis reconnecting, or a gap being mended) online() asks Redis, one script call; while
// Redis does not answer, only this node's sockets count. Memory: one id per online user.
// The chat list cache relies on the order: the script publishes a transition before the node
// that ran it writes the 'presence' event to the socket stream (after a contacts query), so the
// other nodes have applied the transition when that event drops their users' cached lists.
// Every write is one Lua script: atomic, one round trip, whatever the number of users.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { Presence, PresenceListener } from './port.js';
import { channelOf, KEY_PREFIX, subscribeChannel } from './redis.js';

export const PRESENCE_PREFIX = `${KEY_PREFIX}presence:`;

// Shared Lua: number and publish a transition of some users; returns its seq.
const TRANSITION = `
local function transition(prefix, channel, state, users)
  local seq = redis.call('INCR', prefix .. 'seq')
  redis.call('PUBLISH', channel, string.format('%d', seq) .. ' ' .. state .. ' ' .. table.concat(users, ' '))
  return seq
end
`;

// KEYS: user hash, node sockets set. ARGV: prefix, channel, socketId, nodeId, member, userId.
// Returns the transition's seq when the user was offline before and is online now, else 0.
const CONNECT = `${TRANSITION}
local prefix, channel, socket, node, member, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('SADD', KEYS[2], member)
if redis.call('HSET', KEYS[1], socket, node) == 1 and redis.call('HLEN', KEYS[1]) == 1 then
  return transition(prefix, channel, '1', {user})
end
return 0
`;

// KEYS: user hash, node sockets set. ARGV: prefix, channel, socketId, member, userId.
// Returns the transition's seq when this was the user's last socket, else 0.
const DISCONNECT = `${TRANSITION}
local prefix, channel, socket, member, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('SREM', KEYS[2], member)
if redis.call('HDEL', KEYS[1], socket) == 1 and redis.call('EXISTS', KEYS[1]) == 0 then
  return transition(prefix, channel, '0', {user})
end
return 0
`;

// KEYS: user hashes. Returns 1/0 per key.
const ONLINE = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end
return out
`;

// ARGV: prefix. Returns {seq, online users}: the state after transition seq.
const SNAPSHOT = `
local prefix = ARGV[1]
local seq = tonumber(redis.call('GET', prefix .. 'seq') or '0')
local seen, users = {}, {}
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  for _, member in ipairs(redis.call('SMEMBERS', prefix .. 'sockets:' .. node)) do
    local user = string.sub(member, 1, string.find(member, ':', 1, true) - 1)
    if not seen[user] then seen[user] = true; users[#users + 1] = user end
  end
end
return {seq, users}
`;

// ARGV: prefix, nodeId, ttlMs. Refreshes the node key; returns {1 if it still existed, dead node ids}.
const HEARTBEAT = `
local prefix, node, ttl = ARGV[1], ARGV[2], ARGV[3]
local existed = redis.call('SET', prefix .. 'node:' .. node, '1', 'PX', ttl, 'GET')
redis.call('SADD', prefix .. 'nodes', node)
local dead = {}
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  if redis.call('EXISTS', prefix .. 'node:' .. other) == 0 then dead[#dead + 1] = other end
end
return {existed and 1 or 0, dead}
`;

// ARGV: prefix, channel, nodeId, force ('1' when the node itself leaves). Removes the node's
// sockets, unless it is alive again (and not leaving); returns {seq, the users left with no
// socket}. Atomic, so when several survivors find the same dead node only one reports its users.
const REAP = `${TRANSITION}
local prefix, channel, node, force = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
if force then
  redis.call('DEL', prefix .. 'node:' .. node)
elseif redis.call('EXISTS', prefix .. 'node:' .. node) == 1 then
  return {0, {}}
end
local setKey = prefix .. 'sockets:' .. node
local members = redis.call('SMEMBERS', setKey)
redis.call('DEL', setKey)
redis.call('SREM', prefix .. 'nodes', node)
local users, offline = {}, {}
for _, member in ipairs(members) do
  local sep = string.find(member, ':', 1, true)
  local user, socket = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
  local key = prefix .. 'user:' .. user
  if redis.call('HDEL', key, socket) == 1 and not users[user] and redis.call('EXISTS', key) == 0 then
    users[user] = true
    offline[#offline + 1] = user
  end
end
if #offline == 0 then return {0, {}} end
return {transition(prefix, channel, '0', offline), offline}
`;

interface PresenceCommands {
  presenceConnect(userKey: string, socketsKey: string, prefix: string, channel: string, socketId: string, nodeId: string, member: string, userId: string): Promise<number>;
  presenceDisconnect(userKey: string, socketsKey: string, prefix: string, channel: string, socketId: string, member: string, userId: string): Promise<number>;
  presenceOnline(count: number, ...keys: string[]): Promise<number[]>;
  presenceSnapshot(prefix: string): Promise<[number, string[]]>;
  presenceHeartbeat(prefix: string, nodeId: string, ttlMs: number): Promise<[number, string[]]>;
  presenceReap(prefix: string, channel: string, nodeId: string, force: '0' | '1'): Promise<[number, string[]]>;
}

function defineCommands(redis: Redis): Redis & PresenceCommands {
  const r = redis as Redis & PresenceCommands;
  // defineCommand sends EVALSHA and falls back to EVAL once after a Redis restart.
  if (!('presenceSnapshot' in r)) {
    redis.defineCommand('presenceConnect', { numberOfKeys: 2, lua: CONNECT });
    redis.defineCommand('presenceDisconnect', { numberOfKeys: 2, lua: DISCONNECT });
    redis.defineCommand('presenceOnline', { lua: ONLINE });
    redis.defineCommand('presenceSnapshot', { numberOfKeys: 0, lua: SNAPSHOT });
    redis.defineCommand('presenceHeartbeat', { numberOfKeys: 0, lua: HEARTBEAT });
    redis.defineCommand('presenceReap', { numberOfKeys: 0, lua: REAP });
  }
  return r;
}

export interface RedisPresenceOptions {
  /** PRESENCE_TTL_SECONDS: a dead node's users are offline, and announced so, within it. */
  ttlSeconds: number;
  log: FastifyBaseLogger;
  nodeId?: string;
  /** Nodes see each other's sockets only under the same prefix (default chat:presence:). */
  prefix?: string;
}

/** How long online() waits for Redis before answering from this node's sockets. */
const ONLINE_TIMEOUT_MS = 1000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from redis within ${ms} ms`)), ms);
  });
  promise.catch(() => {}); // a late failure after the timeout is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A transition as published: users who came online (true) or went offline, numbered by seq. */
interface Transition {
  seq: number;
  isOnline: boolean;
  users: string[];
}

function parseTransition(text: string): Transition | null {
  const [seq, state, ...users] = text.split(' ');
  const n = Number(seq);
  if (!Number.isSafeInteger(n) || (state !== '0' && state !== '1') || users.length === 0) return null;
  return { seq: n, isOnline: state === '1', users };
}

/**
 * The online users of the whole cluster, in memory: a snapshot and the transitions after it.
 * Not synced (null) until the snapshot is in, and again from the moment a transition may have been
 * missed (the subscription dropped, or a seq was skipped) until a new snapshot.
 */
class OnlineSet {
  private users: Set<string> | null = null;
  private seq = 0;
  /** Transitions received while not synced: those after the next snapshot are applied to it. */
  private pending: Transition[] = [];
  /**
   * Transitions of this node applied before their message arrived (so this node reads its own
   * writes at once): user -> seq. An older message of that user arriving meanwhile is not applied.
   */
  private readonly own = new Map<string, number>();

  get synced(): boolean {
    return this.users !== null;
  }

  /** The users of `ids` online, or null when not synced. */
  online(ids: string[]): Set<string> | null {
    const users = this.users;
    return users ? new Set(ids.filter((id) => users.has(id))) : null;
  }

  /** Subscribed, or a transition was missed: transitions are kept until snapshot(). */
  unsync(): void {
    this.users = null;
    this.own.clear();
  }

  /** The subscription is gone: what arrives after it comes back starts afresh. */
  lost(): void {
    this.unsync();
    this.pending = [];
  }

  /**
   * The state after transition `seq`, read once subscribed, then the transitions received after
   * it. False when those show a gap (the caller takes another snapshot).
   */
  snapshot(seq: number, users: string[]): boolean {
    this.users = new Set(users);
    this.seq = seq;
    const pending = this.pending;
    this.pending = [];
    return pending.every((transition) => this.received(transition));
  }

  /** A transition from the channel; false when it shows one was missed (the caller re-syncs). */
  received(transition: Transition): boolean {
    const users = this.users;
    if (!users) {
      this.pending.push(transition);
      return true;
    }
    if (transition.seq <= this.seq) return true; // in the snapshot already
    if (transition.seq !== this.seq + 1) {
      this.unsync();
      this.pending.push(transition);
      return false;
    }
    this.seq = transition.seq;
    for (const user of transition.users) {
      const own = this.own.get(user);
      if (own !== undefined) {
        if (own > transition.seq) continue; // this node's newer transition of the user stands
        this.own.delete(user);
      }
      if (transition.isOnline) users.add(user);
      else users.delete(user);
    }
    return true;
  }

  /** A transition this node made (its script's answer): applied now, ahead of its message. */
  applyOwn(transition: Transition): void {
    const users = this.users;
    if (!users || transition.seq <= this.seq) return; // the snapshot or the message has it
    for (const user of transition.users) {
      this.own.set(user, transition.seq);
      if (transition.isOnline) users.add(user);
      else users.delete(user);
    }
  }
}

export class RedisPresence implements Presence {
  readonly nodeId: string;
  private readonly prefix: string;
  /** Where the transitions are published. */
  private readonly channel: string;
  private readonly redis: Redis & PresenceCommands;
  private readonly log: FastifyBaseLogger;
  private readonly beatMs: number;
  private readonly keyTtlMs: number;
  /** This node's sockets, to register them again when Redis lost them (restart, or reaped). */
  private readonly local = new Map<string, string>();
  private readonly known = new OnlineSet();
  private subscription: { close(): Promise<void> } | null = null;
  private syncing: Promise<void> | null = null;
  private readonly listeners: PresenceListener[] = [];
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private closed = false;
  /** online() fell back to this node's sockets last time (logged once per outage). */
  private onlineFailing = false;

  constructor(redis: Redis, options: RedisPresenceOptions) {
    this.redis = defineCommands(redis);
    this.log = options.log;
    this.nodeId = options.nodeId ?? randomUUID();
    this.prefix = options.prefix ?? PRESENCE_PREFIX;
    this.channel = channelOf(redis, `${this.prefix}transitions`);
    const ttlMs = options.ttlSeconds * 1000;
    // Beat every TTL/4 and let the key live 3/4 TTL: two beats may be missed (a busy event
    // loop) before the node counts as dead, and dead-node cleanup, which runs on the next beat
    // of a survivor, still finishes within the TTL.
    this.beatMs = Math.max(250, Math.floor(ttlMs / 4));
    this.keyTtlMs = Math.max(this.beatMs * 2 + 100, Math.floor((ttlMs * 3) / 4));
  }

  /** Registers the node, subscribes to the transitions (with a snapshot), starts the heartbeat. */
  async start(): Promise<void> {
    await this.beat();
    this.subscription = await subscribeChannel(this.redis, this.channel, this.log, {
      name: 'presence transitions',
      message: (text) => {
        const transition = parseTransition(text);
        if (transition && !this.known.received(transition)) {
          this.log.warn({ seq: transition.seq }, 'presence: a transition was missed; reading the online users again');
          void this.sync();
        }
      },
      up: () => this.sync(),
      down: () => this.known.lost(),
    });
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  /** Whether online() is answered from memory (for tests and diagnostics). */
  get synced(): boolean {
    return this.known.synced;
  }

  onTransition(listener: PresenceListener): void {
    this.listeners.push(listener);
  }

  async connect(userId: string, socketId: string): Promise<boolean> {
    this.local.set(socketId, userId);
    const seq = await this.redis.presenceConnect(
      this.userKey(userId), this.socketsKey(this.nodeId), this.prefix, this.channel, socketId, this.nodeId, member(userId, socketId), userId,
    );
    if (seq > 0) this.known.applyOwn({ seq, isOnline: true, users: [userId] });
    return seq > 0;
  }

  async disconnect(userId: string, socketId: string): Promise<boolean> {
    this.local.delete(socketId);
    const seq = await this.redis.presenceDisconnect(
      this.userKey(userId), this.socketsKey(this.nodeId), this.prefix, this.channel, socketId, member(userId, socketId), userId,
    );
    if (seq > 0) this.known.applyOwn({ seq, isOnline: false, users: [userId] });
    return seq > 0;
  }

  /** From memory while synced (the transitions come in), else null. */
  onlineNow(userIds: string[]): Set<string> | null {
    return this.known.online(userIds);
  }

  /**
   * Who of `userIds` has a socket on any node: from memory while the transitions come in. While
   * not (the subscription reconnecting): one script call. While Redis cannot answer that either
   * (not connected, or no answer within ONLINE_TIMEOUT_MS): the users with a socket on this node,
   * rather than an error. GET /chats then shows the others offline, and a message posted meanwhile
   * is still written and pushed to everyone not known online, instead of the request failing for
   * the whole outage.
   */
  async online(userIds: string[]): Promise<Set<string>> {
    const known = this.onlineNow(userIds);
    if (known) return known;
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return new Set();
    let flags: number[];
    try {
      // Not connected: a command would wait in ioredis's queue for the reconnect attempts.
      if (this.redis.status !== 'ready') throw new Error(`redis connection ${this.redis.status}`);
      flags = await withTimeout(this.redis.presenceOnline(ids.length, ...ids.map((id) => this.userKey(id))), ONLINE_TIMEOUT_MS);
    } catch (error) {
      if (!this.onlineFailing) this.log.warn({ err: error }, 'presence: Redis does not answer; only this node\'s sockets count as online');
      this.onlineFailing = true;
      const here = new Set(this.local.values());
      return new Set(ids.filter((id) => here.has(id)));
    }
    this.onlineFailing = false;
    return new Set(ids.filter((_, i) => flags[i] === 1));
  }

  /** Leaves: removes this node's remaining sockets and its key (the sockets were closed first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.subscription?.close();
    this.known.lost();
    if (this.redis.status !== 'ready') return;
    await this.redis.presenceReap(this.prefix, this.channel, this.nodeId, '1').catch((error: Error) => {
      this.log.warn({ err: error }, 'presence: leaving failed; the node key expires by itself');
    });
    this.local.clear();
  }

  /** Reads the online users after subscribing (or after a missed transition); one at a time. */
  private sync(): Promise<void> {
    this.known.unsync();
    this.syncing ??= (async () => {
      try {
        // A snapshot older than a transition received meanwhile shows it as a gap: read again.
        for (let attempt = 0; attempt < 3 && !this.known.synced; attempt++) {
          const [seq, users] = await this.redis.presenceSnapshot(this.prefix);
          if (!this.known.snapshot(seq, users)) this.known.unsync();
        }
      } catch (error) {
        // Until the next heartbeat tries again, online() asks Redis.
        this.log.warn({ err: error }, 'presence: reading the online users failed');
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  private beat(): Promise<void> {
    if (this.beating || this.closed) return this.beating ?? Promise.resolve();
    this.beating = this.runBeat()
      .catch((error: Error) => this.log.warn({ err: error }, 'presence heartbeat failed'))
      .finally(() => {
        this.beating = null;
      });
    return this.beating;
  }

  private async runBeat(): Promise<void> {
    const [existed, dead] = await this.redis.presenceHeartbeat(this.prefix, this.nodeId, this.keyTtlMs);
    if (existed === 0 && this.local.size > 0) {
      // Our key had expired (Redis restarted, or we stalled and a survivor reaped us): our sockets
      // are still connected, so register them again; users shown offline meanwhile come back.
      // All at once: ioredis pipelines them on the connection.
      const sockets = [...this.local];
      const results = await Promise.all(sockets.map(([socketId, userId]) => this.connect(userId, socketId)));
      const cameOnline = sockets.filter((_, i) => results[i]).map(([, userId]) => userId);
      this.log.warn({ sockets: this.local.size }, 'presence: node key was gone; sockets registered again');
      this.emit(cameOnline, true);
    }
    for (const node of dead) {
      if (node === this.nodeId) continue;
      const [seq, offline] = await this.redis.presenceReap(this.prefix, this.channel, node, '0');
      if (offline.length === 0) continue;
      this.known.applyOwn({ seq, isOnline: false, users: offline });
      this.log.info({ node, users: offline.length }, 'presence: dead node reaped');
      this.emit(offline, false);
    }
    // A snapshot that failed (Redis answered the subscription but not the script) is tried again.
    if (this.subscription && !this.known.synced && !this.syncing) await this.sync();
  }

  private userKey(userId: string) {
    return `${this.prefix}user:${userId}`;
  }

  private socketsKey(nodeId: string) {
    return `${this.prefix}sockets:${nodeId}`;
  }

  private emit(userIds: string[], isOnline: boolean) {
    if (userIds.length === 0) return;
    for (const listener of this.listeners) listener(userIds, isOnline);
  }
}

const member = (userId: string, socketId: string) => `${userId}:${socketId}`;
