// What services are given: the parsed config and the ports, each with a real implementation.
import type { FastifyBaseLogger } from 'fastify';
import type { TokenService } from '../auth/tokens.js';
import type { ChatListCache } from '../chats/list-cache.js';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { ActivityRefresher } from '../messages/activity.js';
import type { ChatMembers } from '../messages/members.js';
import type { PushWorker } from '../push/worker.js';
import type { Realtime } from '../realtime/port.js';
import type { ObjectDeleter } from '../storage/deleter.js';
import type { Storage } from '../storage/port.js';

export interface Deps {
  config: Config;
  database: Database;
  realtime: Realtime;
  /**
   * GET /chats answers kept in memory (src/chats/list-cache.ts). Everyone else only calls
   * invalidate(userIds) for a change of those users' lists that sends them no socket event.
   */
  chatLists: ChatListCache;
  /** Rewrites the participants' chat-list order of large chats after the writes that move it. */
  activity: ActivityRefresher;
  /** Large chats' member ids, cached under the chat's members_version. */
  chatMembers: ChatMembers;
  storage: Storage;
  pushWorker: PushWorker;
  objectDeleter: ObjectDeleter;
  tokens: TokenService;
  log: FastifyBaseLogger;
}
