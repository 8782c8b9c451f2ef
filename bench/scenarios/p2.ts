// P2: p50 latency of GET /chats for a user in 10,000 chats ÷ for a user in 100 chats; the same
// for GET /chats/explore/communities over 100,000 group chats with reels. Target ≤ 1.3.
// Latency is measured unloaded (one connection, requests back to back), so it is the request's
// own time, not a queue. Explore: both users send the same search (a word in ~5% of the group
// names) over the same 100,000 groups; the heavy user's answer carries its memberships
// (isJoined, areYouAdmin) and pending requests, the light user's hardly any.
import { alternate, type Context } from '../lib/context.js';
import { startLoad, startService } from '../lib/procs.js';
import { fmt, fmtSpread } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import type { HttpRunArgs, HttpRunResult } from '../load/http.js';
import { EXPLORE_SEARCH } from '../seed.js';
import { disturbances, figures, heavyAndLight, profileRun, ratios, request, verdict } from './common.js';

const LIST = '/chats?limit=10';
/** Per side per round: four sides × 8 rounds stay within the scenario's ~3 minutes. */
const SECONDS = 2;
const EXPLORE = `/chats/explore/communities?search=${EXPLORE_SEARCH}&limit=10`;

export async function p2(ctx: Context): Promise<Report> {
  const { heavy, light } = await heavyAndLight(ctx);
  // The chat list cache off: with it on, both users' lists are cache hits answered in well under a
  // millisecond (P1), which says nothing about how the list's statement scales with the chats.
  const service = await startService(ctx, { env: { CHAT_LIST_CACHE_USERS: '0' } });
  const load = startLoad('http.ts');
  try {
    const run = (path: string, headers: Record<string, string>) =>
      load.call<HttpRunResult>('run', {
        url: service.url,
        requests: [{ method: 'GET', path, headers }],
        connections: 1,
        seconds: SECONDS,
      } satisfies HttpRunArgs);

    const probes: Record<string, { status: number; bytes: number; count: number | null }> = {};
    for (const [name, path, user] of [
      ['list heavy', LIST, heavy],
      ['list light', LIST, light],
      ['explore heavy', EXPLORE, heavy],
      ['explore light', EXPLORE, light],
    ] as const) {
      const answer = await request(service.url, 'GET', path, user.auth);
      probes[name] = { status: answer.status, bytes: answer.text.length, count: answer.json?.count ?? null };
    }
    const explore = probes['explore heavy'].status === 200 && probes['explore light'].status === 200;
    if (probes['list heavy'].status !== 200 || probes['list light'].status !== 200) {
      throw new Error(`GET /chats answered ${JSON.stringify(probes)}`);
    }
    ctx.log(`p2: ${JSON.stringify(probes)}; warm-up`);
    const sides = [
      { name: 'list heavy', measure: () => run(LIST, heavy.auth) },
      { name: 'list light', measure: () => run(LIST, light.auth) },
      ...(explore
        ? [
            { name: 'explore heavy', measure: () => run(EXPLORE, heavy.auth) },
            { name: 'explore light', measure: () => run(EXPLORE, light.auth) },
          ]
        : []),
    ];
    for (const side of sides) await side.measure();
    const rounds = await alternate(ctx, sides);
    const list = ratios(rounds, 'list heavy', 'list light', (v) => v.latency.p50);
    const exploreRatio = explore ? ratios(rounds, 'explore heavy', 'explore light', (v) => v.latency.p50) : null;
    for (const r of rounds) {
      ctx.log(`p2 round ${r.round}: ${sides.map((s) => `${s.name} p50 ${r.values[s.name].latency.p50} ms`).join(', ')}`);
    }
    const profile = await profileRun(ctx, 'p2', async (profiled, measured) => {
      await request(profiled.url, 'GET', LIST, heavy.auth);
      measured();
      for (const path of explore ? [LIST, EXPLORE] : [LIST]) {
        await load.call<HttpRunResult>('run', {
          url: profiled.url,
          requests: [{ method: 'GET', path, headers: heavy.auth }],
          connections: 1,
          seconds: ctx.roundSeconds,
        } satisfies HttpRunArgs);
      }
    });

    const markdown = [
      `Unloaded latency (autocannon, 1 connection, ${SECONDS} s per side per round), the service started with the chat list ` +
        `cache off (\`CHAT_LIST_CACHE_USERS=0\`): every GET /chats runs its statement (with the cache on, both sides are hits ` +
        `answered in under 1 ms, see P1). Heavy user: ${ctx.scale.heavyChats.toLocaleString('en-US')} chats; ` +
        `light user: ${ctx.scale.lightChats} chats; explore: \`search=${EXPLORE_SEARCH}\` over ${ctx.scale.groups.toLocaleString('en-US')} group chats ` +
        `with ${ctx.seed.counts.reels?.toLocaleString('en-US')} reels. Answers: ${Object.entries(probes)
          .map(([k, v]) => `${k} ${v.status}, ${v.bytes.toLocaleString('en-US')} bytes, count ${v.count}`)
          .join('; ')}.`,
      '',
      table(
        ['round', ...sides.map((s) => `${s.name} p50 / p99 ms`), 'list ratio', ...(explore ? ['explore ratio'] : [])],
        rounds.map((r, i) => [
          r.round,
          ...sides.map((s) => `${r.values[s.name].latency.p50} / ${r.values[s.name].latency.p99}`),
          fmt(list.values[i]),
          ...(exploreRatio ? [fmt(exploreRatio.values[i])] : []),
        ]),
      ),
      '',
      ...sides.map((s) => `- ${s.name} p50 ms: ${fmtSpread(figures(rounds, s.name, (v) => v.latency.p50))}`),
      `- **GET /chats p50 ratio heavy ÷ light (target ≤ 1.3): ${fmtSpread(list.spread)}** — ${verdict(list.spread.median <= 1.3)}`,
      exploreRatio
        ? `- **explore p50 ratio heavy ÷ light (target ≤ 1.3): ${fmtSpread(exploreRatio.spread)}** — ${verdict(exploreRatio.spread.median <= 1.3)}`
        : `- explore: not measured, GET ${EXPLORE} answered ${probes['explore heavy'].status}`,
      disturbances(rounds),
      ...(profile ? ['', profile] : []),
    ].join('\n');
    return { id: 'p2', title: 'P2 — latency at 10,000 chats vs 100 chats', markdown, raw: { probes, rounds, list, explore: exploreRatio } };
  } finally {
    await load.stop();
    await service.stop();
  }
}
