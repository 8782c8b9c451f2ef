// Starts what the suite needs once for all workers: PostgreSQL (unless DATABASE_URL is given),
// migrated once, Redis (unless REDIS_URL is given) and s3rver with the test bucket.
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/client.js';
import { startS3, type RunningS3 } from './s3.js';
import { startPostgres, startRedis, type RunningServer } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    /** s3rver: endpoint, bucket, and the folder it keeps objects in (test/helpers/s3.ts). */
    s3: { url: string; bucket: string; directory: string };
  }
}

let started: RunningServer[] = [];
let s3Servers: RunningS3[] = [];

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

  const s3 = await startS3();
  s3Servers.push(s3);
  project.provide('s3', { url: s3.url, bucket: s3.bucket, directory: s3.directory });
}

export async function teardown() {
  for (const server of started.reverse()) server.stop();
  started = [];
  await Promise.all(s3Servers.map((s3) => s3.destroy()));
  s3Servers = [];
}
