// P5: RSS per idle authenticated socket at 10,000 sockets (after GC) ÷ a bare Socket.IO server's.
// Targets: ≤ 1.2; 10,000 sockets < 600 MB. Both servers start with --inspect so the benchmark can
// force a full GC before reading VmRSS; sockets are added in four steps and the per-socket figure
// is the slope of RSS over sockets (least squares), so start-up memory does not count.
// Memory does not drift with the VM's CPU speed: one pass per server is enough.
import { type Context } from '../lib/context.js';
import { gcAndMemory } from '../lib/inspector.js';
import { rssOf } from '../lib/machine.js';
import { startBaseline, startLoad, startService, type Server } from '../lib/procs.js';
import { fmt } from '../lib/stats.js';
import { table, type Report } from '../lib/report.js';
import { signTokens } from '../lib/tokens.js';
import { userId, verdict } from './common.js';

const STEPS = 4;
const MB = 1024 * 1024;

interface Point {
  sockets: number;
  rss: number;
  heapUsed: number;
  external: number;
}

function slope(points: Point[], figure: (p: Point) => number): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.sockets, 0) / n;
  const my = points.reduce((s, p) => s + figure(p), 0) / n;
  const num = points.reduce((s, p) => s + (p.sockets - mx) * (figure(p) - my), 0);
  const den = points.reduce((s, p) => s + (p.sockets - mx) ** 2, 0);
  return num / den;
}

export async function p5(ctx: Context): Promise<Report> {
  const n = ctx.scale.sockets;
  // Crowd users outside the 1,000-member group: each shares chats with ~100 others, like most users.
  const users = Array.from({ length: n }, (_, i) => userId(ctx.scale.fanout + 1 + i));
  const tokens = [...(await signTokens(users)).values()];
  const load = startLoad('sockets.ts', {}, ['--max-old-space-size=8192']);
  const servers: Server[] = [];
  try {
    const service = await startService(ctx, { inspect: true });
    servers.push(service);
    const bare = await startBaseline('bare-socketio.mjs', {}, { inspect: true, name: 'bare' });
    servers.push(bare);
    const curves: Record<string, Point[]> = {};
    const timings: Record<string, number> = {};
    for (const server of [service, bare]) {
      const label = server === service ? 'service' : 'bare';
      const points: Point[] = [];
      const read = async (sockets: number) => {
        await new Promise((r) => setTimeout(r, 1000));
        const memory = await gcAndMemory(server.inspectorUrl!);
        points.push({ sockets, rss: rssOf(server.pid), heapUsed: memory.heapUsed, external: memory.external });
      };
      await read(0);
      let connected = 0;
      const started = performance.now();
      for (let step = 1; step <= STEPS; step++) {
        const upTo = Math.round((n * step) / STEPS);
        const c = await load.call('connect', { label, url: server.url, tokens: tokens.slice(connected, upTo) });
        if (c.failed > 0) throw new Error(`${label}: ${c.failed} socket connects failed: ${JSON.stringify(c.errors)}`);
        connected = upTo;
        // The service announces each new user's presence to its contacts: let that finish.
        await load.call('quiesce', { quietMs: 2000, maxMs: 60_000 });
        await read(connected);
        ctx.log(`p5 ${label}: ${connected} sockets, RSS ${fmt(points[points.length - 1].rss / MB, 1)} MB`);
      }
      timings[label] = (performance.now() - started) / 1000;
      curves[label] = points;
      const counts = await load.call('counts', { label });
      if (counts.connected !== n) throw new Error(`${label}: ${counts.connected} of ${n} sockets still connected`);
      await load.call('disconnect', { label });
    }
    const per = (label: string) => slope(curves[label], (p) => p.rss);
    const ratio = per('service') / per('bare');
    const total = curves.service[STEPS].rss;
    const markdown = [
      `${n.toLocaleString('en-US')} idle sockets (socket.io-client, websocket) of ${n.toLocaleString('en-US')} distinct users, added in ${STEPS} steps; ` +
        `after each step: traffic settled, two full GCs through the inspector, then VmRSS. Service sockets are authenticated (JWT), ` +
        `in their user's room, registered in Redis presence; bare: Socket.IO defaults, one room.`,
      '',
      table(
        ['sockets', 'service RSS MB', 'service heap MB', 'bare RSS MB', 'bare heap MB'],
        curves.service.map((p, i) => [
          p.sockets,
          fmt(p.rss / MB, 1),
          fmt(p.heapUsed / MB, 1),
          fmt(curves.bare[i].rss / MB, 1),
          fmt(curves.bare[i].heapUsed / MB, 1),
        ]),
      ),
      '',
      `- service: ${fmt(per('service') / 1024, 1)} KB RSS per socket (heap ${fmt(slope(curves.service, (p) => p.heapUsed) / 1024, 1)} KB); connected in ${fmt(timings.service, 0)} s`,
      `- bare: ${fmt(per('bare') / 1024, 1)} KB RSS per socket (heap ${fmt(slope(curves.bare, (p) => p.heapUsed) / 1024, 1)} KB); connected in ${fmt(timings.bare, 0)} s`,
      `- **ratio (target ≤ 1.2): ${fmt(ratio)}** — ${verdict(ratio <= 1.2)}`,
      `- **service RSS at ${n.toLocaleString('en-US')} sockets (target < 600 MB): ${fmt(total / MB, 0)} MB** — ${verdict(total < 600 * MB)}`,
    ].join('\n');
    return { id: 'p5', title: 'P5 — memory per idle socket', markdown, raw: { curves, timings, ratio } };
  } finally {
    await load.stop();
    for (const s of servers) await s.stop();
  }
}
