// P1: GET /chats?limit=10 req/s for a user in 10,000 chats (≥ 1M messages in the database)
// ÷ req/s of a bare Fastify route answering a prebuilt JSON of the same size, same autocannon
// settings. Target ≥ 0.5.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { alternate, type Context } from '../lib/context.js';
import { outDir, startBaseline, startLoad, startService } from '../lib/procs.js';
import { fmt, fmtSpread } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import type { HttpRunArgs, HttpRunResult } from '../load/http.js';
import { cpuPerRequest, cpuSplit, disturbances, figures, heavyAndLight, profileRun, ratios, request, verdict } from './common.js';

export const CONNECTIONS = 10;

export async function p1(ctx: Context): Promise<Report> {
  const { heavy } = await heavyAndLight(ctx);
  const service = await startService(ctx);
  const load = startLoad('http.ts');
  let bare;
  try {
    const first = await request(service.url, 'GET', '/chats?limit=10', heavy.auth);
    if (first.status !== 200 || first.json?.chats?.length !== 10) {
      throw new Error(`GET /chats answered ${first.status}: ${first.text.slice(0, 300)}`);
    }
    const bodyFile = path.join(outDir, 'p1-body.json');
    writeFileSync(bodyFile, first.text);
    bare = await startBaseline('bare-fastify.mjs', { BODY_FILE: bodyFile });
    const run = (url: string, headers: Record<string, string>, seconds: number) =>
      load.call<HttpRunResult>('run', {
        url,
        requests: [{ method: 'GET', path: '/chats?limit=10', headers }],
        connections: CONNECTIONS,
        seconds,
      } satisfies HttpRunArgs);

    ctx.log(`p1: body ${first.text.length} bytes, count ${first.json.count}; warm-up`);
    await run(service.url, heavy.auth, 3);
    await run(bare.url, {}, 2);
    const measured = async (pid: number, url: string, headers: Record<string, string>) => {
      const { result, cpu } = await cpuSplit(ctx, pid, () => run(url, headers, ctx.roundSeconds));
      return { ...result, cpu };
    };
    const rounds = await alternate(ctx, [
      { name: 'service', measure: () => measured(service.pid, service.url, heavy.auth) },
      { name: 'bare', measure: () => measured(bare!.pid, bare!.url, {}) },
    ]);
    // CPU per request where it went (median round of the service side).
    const split = (side: 'service' | 'bare') => {
      const middle = [...rounds].sort((a, b) => a.values[side].rps - b.values[side].rps)[rounds.length >> 1].values[side];
      return cpuPerRequest(middle.cpu, middle.ok);
    };
    for (const r of rounds) {
      ctx.log(`p1 round ${r.round}: service ${fmt(r.values.service.rps)} req/s, bare ${fmt(r.values.bare.rps)} req/s`);
    }
    const ratio = ratios(rounds, 'service', 'bare', (v) => v.rps);
    const profile = await profileRun(ctx, 'p1', async (profiled, measured) => {
      await run(profiled.url, heavy.auth, 2);
      measured();
      await run(profiled.url, heavy.auth, ctx.roundSeconds);
    });
    const errors = rounds.reduce((n, r) => n + r.values.service.errors + r.values.service.non2xx, 0);
    const markdown = [
      `GET /chats?limit=10 as the user in ${ctx.seed.counts.participants ? ctx.scale.heavyChats.toLocaleString('en-US') : '?'} chats ` +
        `(answer ${first.text.length.toLocaleString('en-US')} bytes, count ${first.json.count}) vs a bare Fastify route answering ` +
        `the same bytes; autocannon ${CONNECTIONS} connections, pipelining 1.`,
      '',
      table(
        ['round', 'service req/s', 'bare req/s', 'ratio', 'service p50/p99 ms', 'bare p50/p99 ms', 'client CPU (service/bare)'],
        rounds.map((r) => [
          r.round,
          fmt(r.values.service.rps, 0),
          fmt(r.values.bare.rps, 0),
          fmt(r.values.service.rps / r.values.bare.rps),
          `${r.values.service.latency.p50}/${r.values.service.latency.p99}`,
          `${r.values.bare.latency.p50}/${r.values.bare.latency.p99}`,
          `${fmt(r.values.service.clientCpu)}/${fmt(r.values.bare.clientCpu)}`,
        ]),
      ),
      '',
      `- service req/s: ${fmtSpread(figures(rounds, 'service', (v) => v.rps), 0)}`,
      `- bare req/s: ${fmtSpread(figures(rounds, 'bare', (v) => v.rps), 0)}`,
      `- **ratio (target ≥ 0.5): ${fmtSpread(ratio.spread)}** — ${verdict(ratio.spread.median >= 0.5)}; errors/non-2xx: ${errors}`,
      `- CPU per request (median round): service side: ${split('service')}; bare side: ${split('bare')}`,
      disturbances(rounds),
      ...(profile ? ['', profile] : []),
    ].join('\n');
    return { id: 'p1', title: 'P1 — GET /chats throughput vs bare Fastify', markdown, raw: { rounds, ratio, bytes: first.text.length } };
  } finally {
    await load.stop();
    await bare?.stop();
    await service.stop();
  }
}
