// The benchmark: `npm run bench` (every scenario) or `npm run bench:p1` ... (one). Starts
// PostgreSQL with the seeded data (seeded once, kept in BENCH_DATA_DIR), Redis, builds the
// service, then runs each scenario; each prints its figures next to their baselines and writes
// bench/RESULTS.md (full scale) and bench/out/ (raw numbers).
//
// Environment: BENCH_SCALE=full|small (default full), BENCH_ROUNDS, BENCH_ROUND_SECONDS,
// BENCH_QUIET_WAIT_MS, BENCH_PROFILE=1 (add a --cpu-prof run and its summary), BENCH_RESEED=1,
// BENCH_SKIP_BUILD=1, BENCH_DATA_DIR, BENCH_PIN_DATABASES (the scenarios run with PostgreSQL and
// Redis on the service's core, comma-separated; below). `--seed-only` (npm run bench:seed) seeds and stops.
import { createContext, type Context } from './lib/context.js';
import { cpuReferenceMs, cpuTicks } from './lib/machine.js';
import { SERVER_CPU } from './lib/procs.js';
import { writeReport, type Report } from './lib/report.js';

type Scenario = (ctx: Context) => Promise<Report>;
const SCENARIOS: Record<string, () => Promise<Scenario>> = {
  plans: async () => (await import('./scenarios/plans.js')).plans,
  p1: async () => (await import('./scenarios/p1.js')).p1,
  p2: async () => (await import('./scenarios/p2.js')).p2,
  p3: async () => (await import('./scenarios/p3.js')).p3,
  p4: async () => (await import('./scenarios/p4.js')).p4,
  'p4-options': async () => (await import('./scenarios/p4.js')).p4options,
  p5: async () => (await import('./scenarios/p5.js')).p5,
  p6: async () => (await import('./scenarios/p6.js')).p6,
};
/** `npm run bench`: everything, the P4 socket-layer options included. */
const ALL = ['plans', 'p1', 'p2', 'p3', 'p4', 'p4-options', 'p5', 'p6'];
/** Every scenario stops by itself: this is the bound, beyond the ~3 minutes each is built for. */
const SCENARIO_LIMIT_MS = 4 * 60 * 1000;

const asked = process.argv.slice(2);
/** --seed-only: build, start PostgreSQL and seed (or find the seed), nothing else. */
const seedOnly = asked.includes('--seed-only');
const names = seedOnly ? [] : asked.length > 0 ? asked : ALL;
for (const name of names) {
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario ${name}; one of: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}

/**
 * Scenarios run with PostgreSQL and Redis on the service's core: the server side (the service or
 * its baseline, with the databases it uses) on core 0, the load generator alone on core 1, as the
 * app's clients run on devices of their own.
 * - P3 compares the service's cost per message with the bare transaction's. Left on both cores,
 *   PostgreSQL shares core 1 with the service side's load generator (autocannon), which the
 *   direct side does not have (its driver is its load): the service side paid for its client.
 *   On one core each side is bound by its own CPU per message, which is what the ratio is about.
 * - P4: the client holding the 1,000 sockets spends more CPU per message than the server
 *   (shared/BENCHMARKING.md); PostgreSQL and Redis on its core made the service's tail.
 * The others leave them on both cores: P6 measures the whole box, P1 and P2 read no database on
 *   one side (the cached list, bare Fastify) or the same on both (heavy ÷ light).
 * BENCH_PIN_DATABASES=p4,p4-options runs P3 on the earlier layout.
 */
const DATABASES_ON_SERVER_CORE = new Set((process.env.BENCH_PIN_DATABASES ?? 'p3,p4,p4-options').split(',').filter(Boolean));

const ctx = await createContext();
let failed = 0;
try {
  for (const name of names) {
    const started = Date.now();
    ctx.log(`=== ${name} ===`);
    let timer: NodeJS.Timeout | undefined;
    let overran = false;
    try {
      const scenario = await SCENARIOS[name]();
      ctx.pinDatabases(DATABASES_ON_SERVER_CORE.has(name) ? SERVER_CPU : null);
      // The VM's speed before, and the hypervisor's steal during the scenario, for its section.
      const referenceMs = cpuReferenceMs();
      const ticksBefore = cpuTicks();
      ctx.log(`${name}: CPU reference ${referenceMs.toFixed(0)} ms (SHA-256 of 64 MB)`);
      const report = await Promise.race([
        scenario(ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            overran = true;
            reject(new Error(`${name} ran over ${SCENARIO_LIMIT_MS / 1000} s`));
          }, SCENARIO_LIMIT_MS);
        }),
      ]);
      const ticksAfter = cpuTicks();
      const total = ticksAfter.total - ticksBefore.total;
      ctx.vm = { referenceMs, stealShare: total > 0 ? (ticksAfter.steal - ticksBefore.steal) / total : null };
      writeReport(ctx, report);
      console.log(`\n${report.markdown}\n`);
    } catch (error) {
      failed++;
      ctx.log(`${name} FAILED: ${(error as Error).stack ?? error}`);
    } finally {
      clearTimeout(timer);
    }
    ctx.log(`${name}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    // Its processes may still run: stop here (exiting kills every child, bench/lib/procs.ts).
    if (overran) break;
  }
} finally {
  await ctx.close();
}
process.exit(failed > 0 ? 1 : 0);
