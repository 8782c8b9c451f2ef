// P4: one message into a group of 1,000 online members: p50/p99 from POST sent to the last
// member's message-created, and ÷ a bare Socket.IO server doing io.to(room).emit of the same
// payload. Targets: p99 ≤ 50 ms; ratio ≤ 1.5.
// P4 options (`p4-options`): the bare server with each socket-layer option, to see what each gives.
// One client process (core 1) holds every group's sockets; servers on core 0, idle but the one
// measured.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { alternate, type Context } from '../lib/context.js';
import { cpuSecondsOf } from '../lib/machine.js';
import { root, startBaseline, startLoad, startService, type Server } from '../lib/procs.js';
import { fmt, fmtSpread, percentile, spread } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import { signTokens } from '../lib/tokens.js';
import { layout } from '../scale.js';
import { disturbances, groupId, profileRun, request, userId, verdict } from './common.js';

interface Variant {
  name: string;
  env: Record<string, string>;
  why: string;
}

const BARE: Variant = { name: 'bare', env: {}, why: 'Socket.IO 4.8 defaults (ws engine, no compression), io.to(room).emit' };
const RECOVERY: Variant = {
  name: 'bare+recovery',
  env: { SIO_RECOVERY: '1' },
  why: 'with connection state recovery, as the service runs it',
};

const DIRECT: Variant = {
  name: 'bare+direct-write',
  env: { SIO_DIRECT_WRITE: '1' },
  why: "the floor of any socket layer: the packet's WebSocket frame built once, one write() per member's TCP socket",
};

function optionVariants(ctx: Context): Variant[] {
  const variants: Variant[] = [
    BARE,
    RECOVERY,
    { name: 'bare+deflate', env: { SIO_PER_MESSAGE_DEFLATE: '1' }, why: 'permessage-deflate on every frame (threshold 0)' },
    {
      name: 'bare+redis-streams',
      env: { SIO_REDIS_STREAMS: ctx.redisUrl, SIO_RECOVERY: '1' },
      why: 'recovery + the Redis streams adapter the service uses (XADD before the local emit)',
    },
    DIRECT,
  ];
  if (existsSync(path.join(root, 'node_modules/eiows'))) {
    variants.push({ name: 'bare+eiows', env: { SIO_WS_ENGINE: 'eiows' }, why: 'native WebSocket engine (eiows)' });
  }
  return variants;
}

interface WaveResult {
  latencies: number[];
  firsts: number[];
  posts: number[];
  timeouts: number;
  failures: number;
  lastBody: string;
  clientCpuMsPerWave: number;
  serverCpuMsPerWave: number;
  sockets: number;
}

async function fanoutScenario(
  ctx: Context,
  variants: Variant[],
  withService: boolean,
  client: 'socket.io-client' | 'raw' = 'socket.io-client',
  wavesAtFullScale = 25,
) {
  const l = layout(ctx.scale);
  const members = Array.from({ length: ctx.scale.fanout }, (_, i) => userId(i + 1));
  const tokens = await signTokens(members);
  const sender = { authorization: `Bearer ${tokens.get(members[0])}` };
  const chat = groupId(l.fanoutGroup);
  const waves = ctx.scale.name === 'full' ? wavesAtFullScale : 10;
  const servers: Server[] = [];
  const load = startLoad('sockets.ts');
  try {
    const service = await startService(ctx);
    servers.push(service);
    const probe = await request(service.url, 'POST', `/chats/${chat}/messages`, sender, { text: 'fan-out probe' });
    if (probe.status !== 201) throw new Error(`POST message answered ${probe.status}: ${probe.text.slice(0, 300)}`);
    // The bare servers emit the service's own payload: {message} as message-created carries it.
    const payload = JSON.stringify({ message: probe.json.message });
    const bare: Record<string, Server> = {};
    for (const v of variants) {
      bare[v.name] = await startBaseline('bare-socketio.mjs', v.env, { name: v.name });
      servers.push(bare[v.name]);
    }
    const tokenList = members.map((m) => tokens.get(m)!);
    if (withService) {
      const c = await load.call('connect', { label: 'service', url: service.url, tokens: tokenList, client });
      ctx.log(`p4: ${c.connected} sockets on the service in ${fmt(c.seconds, 1)} s (failed ${c.failed})`);
      if (c.failed > 0) throw new Error(`socket connects failed: ${JSON.stringify(c.errors)}`);
    }
    for (const v of variants) {
      const c = await load.call('connect', { label: v.name, url: bare[v.name].url, tokens: tokenList, client });
      ctx.log(`p4: ${c.connected} sockets on ${v.name} in ${fmt(c.seconds, 1)} s`);
    }
    // Presence announcements of the service's connects reach the other members: let them pass.
    const settled = await load.call('quiesce', { quietMs: 2000, maxMs: 90_000 });
    ctx.log(`p4: presence traffic settled after ${fmt(settled.waitedMs / 1000, 1)} s`);

    // The server's own CPU per message beside the client's (shared/BENCHMARKING.md: the client
    // holding the sockets spends more per message than the server).
    const measure = (name: string) => async (): Promise<WaveResult> => {
      const pid = name === 'service' ? service.pid : bare[name].pid;
      const cpu0 = cpuSecondsOf(pid);
      const result = await wave(name);
      return { ...result, serverCpuMsPerWave: ((cpuSecondsOf(pid) - cpu0) * 1000) / result.latencies.length };
    };
    const wave = (name: string): Promise<WaveResult> =>
      name === 'service'
        ? load.call('fanout', {
            label: 'service',
            url: service.url,
            path: `/chats/${chat}/messages`,
            headers: sender,
            bodies: Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `fan-out message ${i}` })),
            event: 'message-created',
            waves,
            gapMs: 20,
          })
        : load.call('fanout', {
            label: name,
            url: bare[name].url,
            path: '/emit',
            headers: {},
            bodies: [payload],
            event: 'message-created',
            waves,
            gapMs: 20,
          });
    const sides = [...(withService ? ['service'] : []), ...variants.map((v) => v.name)].map((name) => ({ name, measure: measure(name) }));
    for (const side of sides) await side.measure(); // warm-up
    const rounds = await alternate(ctx, sides);
    const profile = withService
      ? await profileRun(ctx, 'p4', async (profiled, measured) => {
          await load.call('connect', { label: 'profiled', url: profiled.url, tokens: tokenList, client });
          await load.call('quiesce', { quietMs: 2000, maxMs: 60_000 });
          measured();
          await load.call('fanout', {
            label: 'profiled',
            url: profiled.url,
            path: `/chats/${chat}/messages`,
            headers: sender,
            bodies: [JSON.stringify({ text: 'profiled fan-out' })],
            event: 'message-created',
            waves: waves * 2,
            gapMs: 20,
          });
          await load.call('disconnect', { label: 'profiled' });
        })
      : null;
    return { rounds, sides: sides.map((s) => s.name), profile, waves };
  } finally {
    await load.stop();
    for (const s of servers.reverse()) await s.stop();
  }
}

function summary(rounds: Awaited<ReturnType<typeof fanoutScenario>>['rounds'], side: string) {
  const all = rounds.flatMap((r) => r.values[side].latencies);
  return {
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: Math.max(...all),
    firstP50: percentile(rounds.flatMap((r) => r.values[side].firsts), 50),
    postP50: percentile(rounds.flatMap((r) => r.values[side].posts), 50),
    clientCpu: percentile(rounds.map((r) => r.values[side].clientCpuMsPerWave), 50),
    serverCpu: percentile(rounds.map((r) => r.values[side].serverCpuMsPerWave), 50),
    timeouts: rounds.reduce((n, r) => n + r.values[side].timeouts, 0),
    failures: rounds.reduce((n, r) => n + r.values[side].failures, 0),
    samples: all.length,
  };
}

function sideTable(rounds: Awaited<ReturnType<typeof fanoutScenario>>['rounds'], sides: string[]) {
  return table(
    ['side', 'p50 ms', 'p99 ms', 'max ms', 'first socket p50 ms', 'POST answered p50 ms', 'server CPU ms/msg', 'client CPU ms/msg', 'messages', 'timeouts/failed'],
    sides.map((s) => {
      const x = summary(rounds, s);
      return [s, fmt(x.p50, 1), fmt(x.p99, 1), fmt(x.max, 1), fmt(x.firstP50, 1), fmt(x.postP50, 1), fmt(x.serverCpu, 1), fmt(x.clientCpu, 1), x.samples, `${x.timeouts}/${x.failures}`];
    }),
  );
}

export async function p4(ctx: Context): Promise<Report> {
  const { rounds, sides, profile, waves } = await fanoutScenario(ctx, [BARE, RECOVERY, DIRECT], true);
  const perRound = (figure: (v: WaveResult) => number) =>
    spread(rounds.map((r) => figure(r.values.service) / figure(r.values.bare)));
  const p50Ratio = perRound((v) => percentile(v.latencies, 50));
  const p99Ratio = perRound((v) => percentile(v.latencies, 99));
  const service = summary(rounds, 'service');
  const markdown = [
    `${ctx.scale.fanout} members online, one socket each (socket.io-client, websocket transport, one client process on core 1); ` +
      `${waves} messages per side per round, 20 ms apart; time from POST sent to the last socket's message-created. ` +
      `Service: POST /chats/:id/messages by a member (all members' sockets get it). Bare: POST /emit → io.to(room).emit of the service's own message payload.`,
    '',
    sideTable(rounds, sides),
    '',
    table(
      ['round', ...sides.map((s) => `${s} p50/p99 ms`), 'p50 ratio', 'p99 ratio'],
      rounds.map((r) => [
        r.round,
        ...sides.map((s) => `${fmt(percentile(r.values[s].latencies, 50), 1)}/${fmt(percentile(r.values[s].latencies, 99), 1)}`),
        fmt(percentile(r.values.service.latencies, 50) / percentile(r.values.bare.latencies, 50)),
        fmt(percentile(r.values.service.latencies, 99) / percentile(r.values.bare.latencies, 99)),
      ]),
    ),
    '',
    `- **service p99 (target ≤ 50 ms): ${fmt(service.p99, 1)} ms** (p50 ${fmt(service.p50, 1)} ms, ${service.samples} messages) — ${verdict(service.p99 <= 50)}`,
    `- **p50 ratio service ÷ bare (target ≤ 1.5): ${fmtSpread(p50Ratio)}** — ${verdict(p50Ratio.median <= 1.5)}`,
    `- **p99 ratio service ÷ bare (target ≤ 1.5): ${fmtSpread(p99Ratio)}** — ${verdict(p99Ratio.median <= 1.5)}`,
    disturbances(rounds),
    ...(profile ? ['', profile] : []),
  ].join('\n');
  return { id: 'p4', title: 'P4 — message fan-out to 1,000 online members', markdown, raw: { rounds, p50Ratio, p99Ratio } };
}

export async function p4options(ctx: Context): Promise<Report> {
  const variants = optionVariants(ctx);
  // A client that costs far less per message than socket.io-client (bench/load/sockets.ts
  // rawSocket), so what differs between the servers shows instead of the client's own time.
  // Six sides: 20 messages each per round keeps the scenario within ~3 minutes.
  const { rounds, sides } = await fanoutScenario(ctx, variants, true, 'raw', 20);
  const base = summary(rounds, 'bare');
  const markdown = [
    `The service and the bare Socket.IO server with each option, ${ctx.scale.fanout} sockets each, same payload, measured with a ` +
      `minimal Socket.IO-protocol client (raw WebSocket, reads only the event name) instead of socket.io-client, so the ` +
      `figures are the servers' rather than the client's. ` +
      `A native engine was ${variants.some((v) => v.name === 'bare+eiows') ? 'measured (eiows)' : 'not measurable here: eiows 11 needs Node ≥ 22, eiows 7 compiles against a Node source checkout fetched from GitHub, and uWebSockets.js is only published on GitHub (unreachable from this machine)'}.`,
    '',
    table(['variant', 'what'], [...variants.map((v) => [v.name, v.why]), ['service', 'the service: POST /chats/:id/messages, Redis streams adapter, recovery']]),
    '',
    sideTable(rounds, sides),
    '',
    ...[...variants.filter((v) => v.name !== 'bare').map((v) => v.name), 'service'].map((name) => {
      const x = summary(rounds, name);
      return `- ${name} vs bare: p50 ×${fmt(x.p50 / base.p50)}, p99 ×${fmt(x.p99 / base.p99)}`;
    }),
  ].join('\n');
  return { id: 'p4-options', title: 'P4 options — what each socket-layer option gives', markdown, raw: { rounds } };
}
