// Starts what the suite needs once for all workers: PostgreSQL (unless DATABASE_URL is given),
// migrated once, and Redis (unless REDIS_URL is given).
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/client.js';
import { startPostgres, startRedis, type RunningServer } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

let started: RunningServer[] = [];

export async function setup(project: TestProject) {
  let databaseUrl = process.env.DATABASE_URL ?? '';
  if (project.name === 'pglite') {
    databaseUrl = '';
  } else if (!databaseUrl) {
    const pg = await startPostgres();
    started.push(pg);
    databaseUrl = pg.url;
  }
  if (databaseUrl) {
    const database = await openDatabase({ url: databaseUrl, poolSize: 1, pgliteDir: null });
    await database.migrate();
    await database.close();
  }

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await startRedis();
    started.push(redis);
    redisUrl = redis.url;
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
}

export async function teardown() {
  for (const server of started.reverse()) server.stop();
  started = [];
}
