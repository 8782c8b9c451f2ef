// P3: POST /chats/:id/messages req/s ÷ the same SQL transaction run directly on the driver
// (bench/baselines/direct-tx.mjs: postgres.js, pool 10, 10 concurrent transactions, like
// autocannon's 10 connections). Target ≥ 0.7. Posts go round-robin to 1,000 chats (half groups of
// 5-7, half one-to-one), each by one of its participants; nobody is online, so every other
// participant with a device (half the seed's users, and every one-to-one chat's recipient) gets a
// push row, in both.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { alternate, type Context } from '../lib/context.js';
import { outDir, runPinned, startLoad, startService } from '../lib/procs.js';
import { fmt, fmtSpread } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import { signTokens } from '../lib/tokens.js';
import type { HttpRunArgs, HttpRunResult } from '../load/http.js';
import { layout } from '../scale.js';
import { cpuPerRequest, cpuSplit, disturbances, figures, groupId, oneToOneId, profileRun, ratios, request, userId, verdict, type CpuSplit } from './common.js';

const CONCURRENCY = 10;

export function postingPairs(ctx: Context, count = 1000): { chat: string; user: string }[] {
  const l = layout(ctx.scale);
  const U = ctx.scale.users;
  const half = Math.min(count / 2, ctx.scale.groups, U / 2);
  const pairs: { chat: string; user: string }[] = [];
  // Groups of neither the heavy nor the light user: the thousands of messages every run leaves in
  // these chats (the data folder is kept across runs) must not pile up as unread in P2's lists
  // (a list counts up to UNREAD_CAP unread messages per chat).
  for (let g = 1, i = 1; i <= half && g <= ctx.scale.groups; g++) {
    if (g % l.heavyStep === 0 || g % l.lightStep === 1) continue;
    pairs.push({ chat: groupId(g), user: userId(((g + (g % 5) * l.stride) % U) + 1) });
    // crowd pair i: users (2i-1, 2i), after the heavy and light users' one-to-one chats
    pairs.push({ chat: oneToOneId(l.heavyOneToOne + l.lightOneToOne + i), user: userId(2 * i - 1) });
    i++;
  }
  return pairs;
}

export async function p3(ctx: Context): Promise<Report> {
  const pairs = postingPairs(ctx);
  const tokens = await signTokens([...new Set(pairs.map((p) => p.user))]);
  const pairsFile = path.join(outDir, 'p3-pairs.json');
  writeFileSync(pairsFile, JSON.stringify(pairs));
  const requests = pairs.map((p, i) => ({
    method: 'POST' as const,
    path: `/chats/${p.chat}/messages`,
    headers: { authorization: `Bearer ${tokens.get(p.user)}` },
    body: JSON.stringify({ text: `bench message ${i}` }),
  }));
  const service = await startService(ctx);
  const load = startLoad('http.ts');
  try {
    const probe = await request(service.url, 'POST', requests[0].path, requests[0].headers, { text: 'probe' });
    if (probe.status !== 201) throw new Error(`POST message answered ${probe.status}: ${probe.text.slice(0, 300)}`);
    const runService = (url: string, seconds: number) =>
      load.call<HttpRunResult>('run', { url, requests, connections: CONCURRENCY, seconds } satisfies HttpRunArgs);
    const runDirect = async (seconds: number) =>
      JSON.parse(
        await runPinned('direct-tx.mjs', {
          DATABASE_URL: ctx.databaseUrl,
          PAIRS_FILE: pairsFile,
          SECONDS: String(seconds),
          CONCURRENCY: String(CONCURRENCY),
          POOL: '10',
        }),
      ) as { tx: number; errors: number; seconds: number; rps: number };

    ctx.log('p3: warm-up');
    await runService(service.url, 3);
    await runDirect(2);
    const rounds = await alternate<{ rps: number; detail: unknown; cpu: CpuSplit; count: number }>(ctx, [
      {
        name: 'service',
        measure: async () => {
          const { result: r, cpu } = await cpuSplit(ctx, service.pid, () => runService(service.url, ctx.roundSeconds));
          return { rps: r.rps, detail: r, cpu, count: r.ok };
        },
      },
      {
        name: 'direct',
        measure: async () => {
          const { result: r, cpu } = await cpuSplit(ctx, service.pid, () => runDirect(ctx.roundSeconds));
          return { rps: r.rps, detail: r, cpu, count: r.tx };
        },
      },
    ]);
    for (const r of rounds) ctx.log(`p3 round ${r.round}: service ${fmt(r.values.service.rps)} req/s, direct ${fmt(r.values.direct.rps)} tx/s`);
    const ratio = ratios(rounds, 'service', 'direct', (v) => v.rps);
    const split = (side: 'service' | 'direct') => {
      const middle = [...rounds].sort((a, b) => a.values[side].rps - b.values[side].rps)[rounds.length >> 1].values[side];
      return cpuPerRequest(middle.cpu, middle.count);
    };
    const profile = await profileRun(ctx, 'p3', async (profiled, measured) => {
      await runService(profiled.url, 2);
      measured();
      await runService(profiled.url, ctx.roundSeconds);
    });
    const errors = rounds.reduce((n, r) => {
      const d = r.values.service.detail as HttpRunResult;
      return n + d.errors + d.non2xx;
    }, 0);
    const markdown = [
      `POST /chats/:id/messages (text only) round-robin over ${pairs.length} chats, autocannon ${CONCURRENCY} connections; ` +
        `baseline: the same transaction on postgres.js directly, ${CONCURRENCY} at a time, pool 10, on core 0.`,
      '',
      table(
        ['round', 'service req/s', 'direct tx/s', 'ratio', 'service p50/p99 ms'],
        rounds.map((r) => {
          const d = r.values.service.detail as HttpRunResult;
          return [r.round, fmt(r.values.service.rps, 0), fmt(r.values.direct.rps, 0), fmt(r.values.service.rps / r.values.direct.rps), `${d.latency.p50}/${d.latency.p99}`];
        }),
      ),
      '',
      `- service req/s: ${fmtSpread(figures(rounds, 'service', (v) => v.rps), 0)}`,
      `- direct tx/s: ${fmtSpread(figures(rounds, 'direct', (v) => v.rps), 0)}`,
      `- **ratio (target ≥ 0.7): ${fmtSpread(ratio.spread)}** — ${verdict(ratio.spread.median >= 0.7)}; service errors/non-2xx: ${errors}`,
      `- CPU per message (median round): service side: ${split('service')}; direct side: PostgreSQL ${split('direct').split('PostgreSQL ')[1]?.split(',')[0]} (the direct process itself not counted)`,
      disturbances(rounds),
      ...(profile ? ['', profile] : []),
    ].join('\n');
    return { id: 'p3', title: 'P3 — POST message throughput vs the bare transaction', markdown, raw: { rounds, ratio } };
  } finally {
    await load.stop();
    await service.stop();
  }
}
