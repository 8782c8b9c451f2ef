// Presence across nodes (rulings.md 8: online while the user has a connected socket on ANY node).
//
// Keys (prefix chat:presence: by default):
//   node:<nodeId>     '1', expiring: the node is alive while it keeps refreshing it (heartbeat)
//   nodes             set of node ids that registered sockets (so a survivor can find dead ones)
//   sockets:<nodeId>  set of '<userId>:<socketId>' of that node (what to clean when it dies)
//   user:<userId>     hash socketId -> nodeId
// A user is online when one of its sockets belongs to a node whose node key exists. A node that
// dies without cleaning up stops refreshing its key: its users read as offline once the key
// expires (at most 3/4 of PRESENCE_TTL_SECONDS after the last beat), and a surviving node's next
// heartbeat (every 1/4 TTL) removes the dead node's sockets and reports the users that went
// offline, so 'presence' false reaches their contacts within the TTL.
// Every operation is one Lua script: atomic, one round trip, whatever the number of users.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { Presence, PresenceListener } from './port.js';
import { KEY_PREFIX } from './redis.js';

export const PRESENCE_PREFIX = `${KEY_PREFIX}presence:`;

// Shared Lua: is any socket in this user hash on a live node? `alive` caches node lookups.
const LIVE = `
local function node_alive(prefix, node, alive)
  local known = alive[node]
  if known == nil then
    known = redis.call('EXISTS', prefix .. 'node:' .. node) == 1
    alive[node] = known
  end
  return known
end
local function live_count(prefix, key, alive, skip)
  local entries = redis.call('HGETALL', key)
  local n = 0
  for i = 1, #entries, 2 do
    if entries[i] ~= skip and node_alive(prefix, entries[i + 1], alive) then n = n + 1 end
  end
  return n
end
`;

// KEYS: user hash, node sockets set. ARGV: prefix, socketId, nodeId, member.
// Returns 1 when the user was offline before and is online now.
const CONNECT = `${LIVE}
local prefix, socket, node, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local alive = {}
local before = live_count(prefix, KEYS[1], alive, socket)
local previous = redis.call('HGET', KEYS[1], socket)
if previous and node_alive(prefix, previous, alive) then before = before + 1 end
redis.call('HSET', KEYS[1], socket, node)
redis.call('SADD', KEYS[2], member)
if before == 0 and node_alive(prefix, node, alive) then return 1 end
return 0
`;

// KEYS: user hash, node sockets set. ARGV: prefix, socketId, member.
// Returns 1 when this was the user's last live socket.
const DISCONNECT = `${LIVE}
local prefix, socket, member = ARGV[1], ARGV[2], ARGV[3]
redis.call('SREM', KEYS[2], member)
if redis.call('HDEL', KEYS[1], socket) == 0 then return 0 end
if live_count(prefix, KEYS[1], {}, nil) == 0 then return 1 end
return 0
`;

// KEYS: user hashes. ARGV: prefix. Returns 1/0 per key.
const ONLINE = `${LIVE}
local alive, out = {}, {}
for i, key in ipairs(KEYS) do
  out[i] = live_count(ARGV[1], key, alive, nil) > 0 and 1 or 0
end
return out
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

// ARGV: prefix, nodeId, force ('1' when the node itself leaves). Removes the node's sockets,
// unless it is alive again (and not leaving); returns the users left with no live socket.
// Atomic, so when several survivors find the same dead node only one of them reports its users.
const REAP = `${LIVE}
local prefix, node, force = ARGV[1], ARGV[2], ARGV[3] == '1'
if force then
  redis.call('DEL', prefix .. 'node:' .. node)
elseif redis.call('EXISTS', prefix .. 'node:' .. node) == 1 then
  return {}
end
local setKey = prefix .. 'sockets:' .. node
local members = redis.call('SMEMBERS', setKey)
redis.call('DEL', setKey)
redis.call('SREM', prefix .. 'nodes', node)
local users, order = {}, {}
for _, member in ipairs(members) do
  local sep = string.find(member, ':', 1, true)
  local user, socket = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
  redis.call('HDEL', prefix .. 'user:' .. user, socket)
  if not users[user] then users[user] = true; order[#order + 1] = user end
end
local offline, alive = {}, {}
for _, user in ipairs(order) do
  if live_count(prefix, prefix .. 'user:' .. user, alive, nil) == 0 then offline[#offline + 1] = user end
end
return offline
`;

interface PresenceCommands {
  presenceConnect(userKey: string, socketsKey: string, prefix: string, socketId: string, nodeId: string, member: string): Promise<number>;
  presenceDisconnect(userKey: string, socketsKey: string, prefix: string, socketId: string, member: string): Promise<number>;
  presenceOnline(count: number, ...args: string[]): Promise<number[]>;
  presenceHeartbeat(prefix: string, nodeId: string, ttlMs: number): Promise<[number, string[]]>;
  presenceReap(prefix: string, nodeId: string, force: '0' | '1'): Promise<string[]>;
}

function defineCommands(redis: Redis): Redis & PresenceCommands {
  const r = redis as Redis & PresenceCommands;
  // defineCommand sends EVALSHA and falls back to EVAL once after a Redis restart.
  if (!('presenceConnect' in r)) {
    redis.defineCommand('presenceConnect', { numberOfKeys: 2, lua: CONNECT });
    redis.defineCommand('presenceDisconnect', { numberOfKeys: 2, lua: DISCONNECT });
    redis.defineCommand('presenceOnline', { lua: ONLINE });
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

export class RedisPresence implements Presence {
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly redis: Redis & PresenceCommands;
  private readonly log: FastifyBaseLogger;
  private readonly beatMs: number;
  private readonly keyTtlMs: number;
  /** This node's sockets, to register them again when Redis lost them (restart, or reaped). */
  private readonly local = new Map<string, string>();
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
    const ttlMs = options.ttlSeconds * 1000;
    // Beat every TTL/4 and let the key live 3/4 TTL: two beats may be missed (a busy event
    // loop) before the node counts as dead, and dead-node cleanup, which runs on the next beat
    // of a survivor, still finishes within the TTL.
    this.beatMs = Math.max(250, Math.floor(ttlMs / 4));
    this.keyTtlMs = Math.max(this.beatMs * 2 + 100, Math.floor((ttlMs * 3) / 4));
  }

  /** Registers the node and starts its heartbeat. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  onTransition(listener: PresenceListener): void {
    this.listeners.push(listener);
  }

  async connect(userId: string, socketId: string): Promise<boolean> {
    this.local.set(socketId, userId);
    const cameOnline = await this.redis.presenceConnect(
      this.userKey(userId), this.socketsKey(this.nodeId), this.prefix, socketId, this.nodeId, member(userId, socketId),
    );
    return cameOnline === 1;
  }

  async disconnect(userId: string, socketId: string): Promise<boolean> {
    this.local.delete(socketId);
    const wentOffline = await this.redis.presenceDisconnect(
      this.userKey(userId), this.socketsKey(this.nodeId), this.prefix, socketId, member(userId, socketId),
    );
    return wentOffline === 1;
  }

  /**
   * Who of `userIds` has a socket on any node. While Redis cannot answer (not connected, or no
   * answer within ONLINE_TIMEOUT_MS): the users with a socket on this node, rather than an error.
   * GET /chats then shows the others offline, and a message posted meanwhile is still written and
   * pushed to everyone not known online, instead of the request failing for the whole outage.
   */
  async online(userIds: string[]): Promise<Set<string>> {
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return new Set();
    let flags: number[];
    try {
      // Not connected: a command would wait in ioredis's queue for the reconnect attempts.
      if (this.redis.status !== 'ready') throw new Error(`redis connection ${this.redis.status}`);
      flags = await withTimeout(
        this.redis.presenceOnline(ids.length, ...ids.map((id) => this.userKey(id)), this.prefix),
        ONLINE_TIMEOUT_MS,
      );
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
    if (this.redis.status !== 'ready') return;
    await this.redis.presenceReap(this.prefix, this.nodeId, '1').catch((error: Error) => {
      this.log.warn({ err: error }, 'presence: leaving failed; the node key expires by itself');
    });
    this.local.clear();
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
      const offline = await this.redis.presenceReap(this.prefix, node, '0');
      if (offline.length > 0) this.log.info({ node, users: offline.length }, 'presence: dead node reaped');
      this.emit(offline, false);
    }
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
