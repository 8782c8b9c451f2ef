// P6: capacity. Simulated app users (each opens the chat list, reads a chat, sends a message every
// ~30 s, receives events) ramped until a threshold breaks: average latency ≤ 100 ms, p99 ≤ 2 s,
// errors ≤ 0.025%. Target ≥ 5,000 users on this one box; reports the number reached.
// One ramp (a capacity is not a ratio: no baseline). The users are crowd users outside the
// 1,000-member fan-out group (their chats are groups of 5-7 and one-to-ones).
import { type Context } from '../lib/context.js';
import { cpuSecondsOf, treeCpuSeconds } from '../lib/machine.js';
import { loggedErrors, startLoad, startService } from '../lib/procs.js';
import { fmt } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import { signTokens } from '../lib/tokens.js';
import type { RampArgs, SimUser, Window } from '../load/users.js';
import { cpuSplit, profileRun, userId, verdict } from './common.js';

const THRESHOLDS = { avgMs: 100, p99Ms: 2000, errorRate: 0.00025 };

export async function p6(ctx: Context): Promise<Report> {
  const count = ctx.scale.maxSimUsers;
  const ids = Array.from({ length: count }, (_, i) => userId(ctx.scale.fanout + 1 + i));
  const chats = new Map<string, string[]>();
  for (const row of await ctx.sql<{ user_id: string; chats: string[] }[]>`
      select user_id, array_agg(chat_id) as chats from participants
      where user_id = any(${ids}::text[]) group by user_id`) {
    chats.set(row.user_id.trim(), row.chats.map((c) => c.trim()));
  }
  const tokens = await signTokens(ids);
  const users: SimUser[] = ids.filter((id) => chats.has(id)).map((id) => ({ token: tokens.get(id)!, chats: chats.get(id)! }));
  // 40 new users a second reaches 6,400 users within the scenario's time (the target is 5,000; at
  // 30 a second the ramp could not pass 4,800); a faster ramp makes the joins themselves (socket
  // handshake, presence, the first chat list) the load.
  const rampPerSecond = ctx.scale.name === 'full' ? 40 : 20;
  const args = (url: string, maxSeconds: number): RampArgs => ({
    url,
    users,
    rampPerSecond,
    thinkSeconds: 30,
    windowSeconds: 10,
    maxSeconds,
    thresholds: THRESHOLDS,
  });

  // Every ramp starts from the same state on a reused seed: the push outbox without the rows of
  // earlier runs and scenarios (1.4M delivered rows after a day of runs: a deployment purges
  // them, and their vacuums landed in ramps), and the tables the ramp updates vacuumed, so
  // autovacuum does not pick up the dead rows an earlier run left in the middle of this one.
  await ctx.sql`truncate push_outbox`;
  await ctx.sql`vacuum (analyze) participants, chats, messages`;

  const service = await startService(ctx);
  const load = startLoad('users.ts', {}, ['--max-old-space-size=8192']);
  let result: { reached: number; brokenBy: string | null; added: number; windows: Window[]; totalRequests: number; totalErrors: number; errors: Record<string, number>; seconds: number };
  let serviceCpu = 0;
  let postgresCpu = 0;
  const samples: { service: number; postgres: number; redis: number; pool: Record<string, number> }[] = [];
  try {
    if (ctx.quietWaitMs > 0) await ctx.cpu.waitQuiet(ctx.quietWaitMs);
    if (process.env.BENCH_STATEMENTS === '1') {
      await ctx.sql`create extension if not exists pg_stat_statements`;
      await ctx.sql`select pg_stat_statements_reset()`;
    }
    ctx.log(`p6: ramping ${users.length} users at ${rampPerSecond}/s`);
    // CPU of the service and PostgreSQL per 10 s, beside the generator's windows.
    const redisCpu = () => (ctx.redisPid ? cpuSecondsOf(ctx.redisPid) : 0);
    let last = { service: cpuSecondsOf(service.pid), postgres: treeCpuSeconds(ctx.pgPid), redis: redisCpu() };
    const sampler = setInterval(() => {
      const now = { service: cpuSecondsOf(service.pid), postgres: treeCpuSeconds(ctx.pgPid), redis: redisCpu() };
      samples.push({
        service: (now.service - last.service) / 10,
        postgres: (now.postgres - last.postgres) / 10,
        redis: (now.redis - last.redis) / 10,
        pool: poolSeen,
      });
      poolSeen = {};
      last = now;
    }, 10_000);
    // What the service's pooled connections are doing, sampled every 200 ms.
    let poolSeen: Record<string, number> = {};
    const poolSampler = setInterval(() => {
      void ctx.sql`select coalesce(wait_event, state) as what from pg_stat_activity where application_name = 'chat-service'`.then(
        (rows) => {
          for (const r of rows) poolSeen[r.what] = (poolSeen[r.what] ?? 0) + 1;
        },
        () => {},
      );
    }, 200);
    const measured = await cpuSplit(ctx, service.pid, () => load.call('ramp', args(service.url, 160))).finally(() => {
      clearInterval(sampler);
      clearInterval(poolSampler);
    });
    result = measured.result;
    serviceCpu = measured.cpu.service / result.seconds;
    postgresCpu = measured.cpu.postgres / result.seconds;
    if (process.env.BENCH_STATEMENTS === '1') {
      // Where PostgreSQL's time went during the ramp, by statement.
      const top = await ctx.sql<{ calls: number; total: number; mean: number; query: string }[]>`
        select calls::int, round(total_exec_time + total_plan_time)::float8 as total,
               round(((total_exec_time + total_plan_time) / calls)::numeric, 3)::float8 as mean,
               left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160) as query
        from pg_stat_statements where toplevel order by total_exec_time + total_plan_time desc limit 15`;
      for (const row of top) ctx.log(`p6 statement: ${row.total} ms, ${row.calls} calls, ${row.mean} ms each: ${row.query}`);
    }
  } finally {
    await load.stop();
    await service.stop();
  }
  const profile = await profileRun(ctx, 'p6', async (profiled, measured) => {
    const again = startLoad('users.ts', {}, ['--max-old-space-size=8192']);
    measured();
    try {
      await again.call('ramp', args(profiled.url, 40));
    } finally {
      await again.stop();
    }
  });
  for (const w of result.windows) {
    const kinds = Object.entries(w.kinds)
      .map(([k, v]) => `${k} ${fmt(v.avgMs, 0)}/${fmt(v.p99Ms, 0)}`)
      .join(', ');
    ctx.log(
      `p6 ${w.at}s: ${w.users} users, ${fmt(w.rps, 0)} req/s, avg ${fmt(w.avgMs, 1)} ms, p99 ${fmt(w.p99Ms, 0)} ms (avg/p99 ${kinds}), ` +
        `connect p99 ${fmt(w.connectP99Ms, 0)} ms, errors ${w.errors}, client CPU ${fmt(w.clientCpu)}${w.broken ? ` BROKEN: ${w.broken}` : ''}`,
    );
  }
  const capped = !result.brokenBy;
  const markdown = [
    `Users added at ${rampPerSecond}/s (up to ${users.length.toLocaleString('en-US')}); each: socket connected, GET /chats on open, then every ~30 s ` +
      `(first at a random moment) GET /chats?limit=10, GET /chats/:id/messages?limit=30, POST /chats/:id/messages. ` +
      `10 s windows; thresholds per window: average ≤ ${THRESHOLDS.avgMs} ms, p99 ≤ ${THRESHOLDS.p99Ms} ms; errors ≤ 0.025% over the run. ` +
      `CPU over the run: service ${fmt(serviceCpu * 100, 0)}% of its core, PostgreSQL ${fmt(postgresCpu * 100, 0)}% of one core (both cores available to it).`,
    '',
    table(
      ['t s', 'users', 'req/s', 'avg ms', 'p99 ms', 'avg/p99 ms: list, read, post', 'errors', 'socket connects (p99 ms)', 'events', 'service CPU', 'PostgreSQL CPU', 'Redis CPU', 'pool connections seen (200 ms samples)', 'client CPU', 'client lag p99 ms', 'broken'],
      result.windows.map((w, i) => [
        w.at,
        w.users,
        fmt(w.rps, 0),
        fmt(w.avgMs, 1),
        fmt(w.p99Ms, 0),
        ['list', 'read', 'post'].map((k) => (w.kinds[k] ? `${fmt(w.kinds[k].avgMs, 0)}/${fmt(w.kinds[k].p99Ms, 0)}` : '-')).join(', '),
        w.errors,
        `${w.connects} (${fmt(w.connectP99Ms, 0)})`,
        w.events,
        fmt(samples[i]?.service ?? NaN),
        fmt(samples[i]?.postgres ?? NaN),
        fmt(samples[i]?.redis ?? NaN),
        Object.entries(samples[i]?.pool ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
        fmt(w.clientCpu),
        fmt(w.clientLagP99Ms, 0),
        w.broken ?? '',
      ]),
    ),
    '',
    `- requests ${result.totalRequests.toLocaleString('en-US')}, errors ${result.totalErrors}${result.totalErrors ? ` (${JSON.stringify(result.errors)})` : ''}`,
    ...loggedErrors(service.output()).map((line) => `- the service logged: \`${line}\``),
    `- **users reached (target ≥ 5,000): ${result.reached.toLocaleString('en-US')}**${capped ? ' (no threshold broke: the ramp ended first)' : `; broke at the next step: ${result.brokenBy}`} — ${verdict(result.reached >= 5000)}`,
    ...(profile ? ['', profile] : []),
  ].join('\n');
  return { id: 'p6', title: 'P6 — capacity in simulated app users', markdown, raw: { result, serviceCpu, postgresCpu, samples } };
}
