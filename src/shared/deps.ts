// What services are given: the parsed config and the ports, each with a real implementation.
import type { FastifyBaseLogger } from 'fastify';
import type { TokenService } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { PushWorker } from '../push/worker.js';
import type { Realtime } from '../realtime/port.js';
import type { ObjectDeleter } from '../storage/deleter.js';
import type { Storage } from '../storage/port.js';

export interface Deps {
  config: Config;
  database: Database;
  realtime: Realtime;
  storage: Storage;
  pushWorker: PushWorker;
  objectDeleter: ObjectDeleter;
  tokens: TokenService;
  log: FastifyBaseLogger;
}
