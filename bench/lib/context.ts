// One benchmark run: the machine, PostgreSQL with the seeded data (kept across runs in
// BENCH_DATA_DIR), a fresh Redis, the built service, and the rules every scenario measures by
// (shared/BENCHMARKING.md): rounds that alternate the service and its baseline, each round on a
// quiet machine, a round that another process disturbed done again.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { startPostgres, startRedis, type RunningServer } from '../../test/helpers/servers.js';
import { scaleFromEnv, type Scale } from '../scale.js';
import { seed, type SeedInfo } from '../seed.js';
import { CpuWatch, findPid, machineInfo, processTree } from './machine.js';
import { build, outDir, type Infra } from './procs.js';

/** PostgreSQL settings for the benchmark: a production-like memory budget on this 24 GB box. */
export const PG_SETTINGS = [
  'shared_buffers=2GB',
  'effective_cache_size=8GB',
  'work_mem=16MB',
  'maintenance_work_mem=1GB',
  'max_wal_size=8GB',
  'random_page_cost=1.1',
  'jit=off',
  // BENCH_STATEMENTS=1: per-statement totals (pg_stat_statements), printed by P6 after its ramp.
  ...(process.env.BENCH_STATEMENTS === '1' ? ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all'] : []),
];

export interface Context extends Infra {
  scale: Scale;
  seed: SeedInfo;
  machine: ReturnType<typeof machineInfo>;
  cpu: CpuWatch;
  rounds: number;
  roundSeconds: number;
  /** How long to wait for a quiet machine before each measurement. */
  quietWaitMs: number;
  pgLog: string;
  /** The postmaster: its tree is every PostgreSQL process. */
  pgPid: number;
  redisPid: number | null;
  /** The cores PostgreSQL and Redis may run on: a `taskset` CPU list, or null for every core. */
  databaseCpus: string | null;
  /** Moves every PostgreSQL process (new backends follow the postmaster) and Redis to `cpus`. */
  pinDatabases(cpus: string | null): void;
  /** The VM's state around the scenario being run (bench/run.ts), for its section. */
  vm: { referenceMs: number; stealShare: number | null } | null;
  log(line: string): void;
  /** Our processes besides the orchestrator's children: PostgreSQL and Redis. */
  close(): Promise<void>;
  sql: postgres.Sql;
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
}

export async function createContext(): Promise<Context> {
  const scale = scaleFromEnv();
  mkdirSync(outDir, { recursive: true });
  const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const machine = machineInfo();
  log(`machine: ${machine.nproc} cores, ${machine.cpu}, node ${machine.node}, load ${machine.loadavg}`);

  const dataDir = process.env.BENCH_DATA_DIR ?? path.join(tmpdir(), 'chat-bench', scale.name);
  stopStalePostgres(dataDir);
  // Built first: the seed applies the built service's migrations (dist/drizzle), which it then
  // finds applied at start-up, even while the source tree's migrations are being regenerated.
  build(log);
  const pg = await startPostgres({ dir: dataDir, settings: PG_SETTINGS });
  let redis: RunningServer | null = null;
  try {
    log(`postgres: ${pg.url} (data ${dataDir})`);
    const seeded = await seed(pg.url, scale, { force: process.env.BENCH_RESEED === '1', log });
    log(`seed: ${seeded.reused ? 'reused' : 'created'} ${scale.name} (${JSON.stringify(seeded.counts)})`);
    redis = await startRedis();

    const pgPid = Number(readFileSync(path.join(dataDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const redisPort = new URL(redis.url).port;
    const redisPid = findPid(`redis-server 127.0.0.1:${redisPort}`);
    const cpu = new CpuWatch(() => [process.pid, pgPid, ...(redisPid ? [redisPid] : [])]);
    const sql = postgres(pg.url, { max: 2, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
    const theRedis = redis;
    const localSockets = process.env.BENCH_LOCAL_SOCKETS !== '0';
    const context: Context = {
      scale,
      seed: seeded,
      machine,
      cpu,
      // The service and the baselines reach PostgreSQL and Redis over their Unix sockets, as on
      // one box they would be deployed (README "Production"); BENCH_LOCAL_SOCKETS=0: over TCP.
      databaseUrl: localSockets ? pg.socketUrl : pg.url,
      redisUrl: localSockets ? redis.socketUrl : redis.url,
      pgLog: pg.log,
      pgPid,
      redisPid,
      databaseCpus: null,
      pinDatabases(cpus) {
        const list = cpus ?? `0-${machine.nproc - 1}`;
        for (const pid of [...processTree(pgPid), ...(redisPid ? [redisPid] : [])]) {
          try {
            execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
          } catch {
            // a backend that ended meanwhile
          }
        }
        context.databaseCpus = cpus;
      },
      vm: null,
      rounds: intEnv('BENCH_ROUNDS', scale.name === 'full' ? 8 : 2),
      roundSeconds: intEnv('BENCH_ROUND_SECONDS', scale.name === 'full' ? 5 : 2),
      // Per measurement; with the redo budget below this keeps every scenario within ~3 minutes.
      quietWaitMs: intEnv('BENCH_QUIET_WAIT_MS', scale.name === 'full' ? 10_000 : 0),
      log,
      sql,
      async close() {
        await sql.end({ timeout: 5 });
        theRedis.stop();
        pg.stop();
      },
    };
    return context;
  } catch (error) {
    redis?.stop();
    pg.stop();
    throw error;
  }
}

/** A postmaster left running by a killed run still holds the data folder: stop it first. */
function stopStalePostgres(dataDir: string) {
  const data = path.join(dataDir, 'data');
  if (!existsSync(path.join(data, 'postmaster.pid'))) return;
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', data, '-m', 'fast', '-w', 'stop'], {
      stdio: 'ignore',
    });
  } catch {
    // not running: the pid file is stale and pg_ctl start handles it
  }
}

export interface Side<T> {
  name: string;
  /** One measurement; returns the figure and anything to keep. */
  measure(): Promise<T>;
}

export interface RoundResult<T> {
  round: number;
  values: Record<string, T>;
  /** CPU other processes used during each side's measurement, in cores. */
  others: Record<string, number>;
  redone: number;
  /** Another process used more than 0.15 of a core during the round and no redo was left. */
  disturbed?: string;
}

/**
 * Runs `rounds` rounds; each measures every side once, in an order that alternates between rounds
 * (drift hits both sides alike). Before each measurement it waits for a quiet machine; a round in
 * which another process used more than 0.15 of a core is done again (twice per round, three times
 * per scenario at most, so the scenario still ends within its time).
 */
export async function alternate<T>(ctx: Context, sides: Side<T>[], rounds = ctx.rounds): Promise<RoundResult<T>[]> {
  const results: RoundResult<T>[] = [];
  let redoBudget = 3;
  // Waiting for quiet is bounded per scenario too: past 45 s of waiting it measures at once (and
  // says which rounds others disturbed).
  let waitBudgetMs = 45_000;
  for (let round = 1; round <= rounds; round++) {
    let redone = 0;
    for (;;) {
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      const values: Record<string, T> = {};
      const others: Record<string, number> = {};
      let disturbed = '';
      for (const side of order) {
        if (ctx.quietWaitMs > 0 && waitBudgetMs > 0) {
          const quiet = await ctx.cpu.waitQuiet(Math.min(ctx.quietWaitMs, waitBudgetMs));
          waitBudgetMs -= Math.max(0, quiet.waitedMs - 1000); // the first 1 s window is the check itself
          if (!quiet.quiet) ctx.log(`  machine not quiet after ${quiet.waitedMs} ms (${quiet.top}); measuring anyway`);
        }
        const watch = ctx.cpu.start();
        values[side.name] = await side.measure();
        const seen = watch.stop();
        others[side.name] = seen.cores;
        if (seen.cores > 0.15) disturbed = `${side.name}: others used ${seen.cores.toFixed(2)} cores (${seen.top})`;
      }
      if (disturbed && redone < 2 && redoBudget > 0 && ctx.quietWaitMs > 0) {
        redone++;
        redoBudget--;
        ctx.log(`  round ${round} disturbed (${disturbed}); again`);
        continue;
      }
      results.push({ round, values, others, redone, ...(disturbed ? { disturbed } : {}) });
      break;
    }
  }
  return results;
}
