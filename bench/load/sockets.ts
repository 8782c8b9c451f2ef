// Socket load generator (socket.io-client) on core 1: holds groups of connected sockets across
// rounds, and times fan-out waves: one POST sent, until the last socket of the group has the
// event. The same client measures the service and every baseline (shared/BENCHMARKING.md: the
// client's CPU per message is larger than the server's, so it must be the same on both sides).
import { Agent, request } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { serve } from './ipc.js';

interface Wave {
  event: string;
  expected: number;
  got: number;
  first: number;
  finish: (at: number) => void;
}

interface Group {
  sockets: (Socket | { connected: boolean; close(): void })[];
  received: Record<string, number>;
  lastEventAt: number;
  wave: Wave | null;
}

const groups = new Map<string, Group>();
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function group(label: string): Group {
  const g = groups.get(label);
  if (!g) throw new Error(`no socket group ${label}`);
  return g;
}

/**
 * A minimal Socket.IO-protocol client over a bare WebSocket (Engine.IO 4: open "0", ping "2" →
 * pong "3"; Socket.IO 5: CONNECT "40{auth}", ack "40{...}", error "44{...}", EVENT "42[name,...]").
 * It only reads the event name and never parses the payload, so the client's own CPU per message
 * stays far below socket.io-client's and the figure is the server's (P4 options).
 */
function rawSocket(url: string, token: string, onEvent: (event: string) => void): Promise<{ close(): void; connected: boolean }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const handle = { connected: false, close: () => ws.close() };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const text = data.toString();
      if (text.startsWith('42["')) {
        onEvent(text.slice(4, text.indexOf('"', 4)));
      } else if (text === '2') {
        ws.send('3');
      } else if (text.startsWith('0{')) {
        ws.send(`40${JSON.stringify({ token })}`);
      } else if (text.startsWith('40')) {
        handle.connected = true;
        resolve(handle);
      } else if (text.startsWith('44')) {
        ws.close();
        reject(new Error(JSON.parse(text.slice(2)).message ?? 'connect error'));
      }
    });
    ws.on('close', () => (handle.connected = false));
    ws.on('error', reject);
  });
}

async function connect(args: { label: string; url: string; tokens: string[]; concurrency?: number; client?: 'socket.io-client' | 'raw' }) {
  const g: Group = groups.get(args.label) ?? { sockets: [], received: {}, lastEventAt: 0, wave: null };
  groups.set(args.label, g);
  const started = performance.now();
  let failed = 0;
  let next = 0;
  const errors = new Map<string, number>();
  const onEvent = (event: string) => {
    g.received[event] = (g.received[event] ?? 0) + 1;
    g.lastEventAt = performance.now();
    const wave = g.wave;
    if (wave && event === wave.event) {
      if (wave.got === 0) wave.first = performance.now();
      if (++wave.got === wave.expected) wave.finish(performance.now());
    }
  };
  const raw = (token: string) =>
    rawSocket(args.url, token, onEvent).then(
      (handle) => void g.sockets.push(handle),
      (error: Error) => {
        failed++;
        errors.set(error.message, (errors.get(error.message) ?? 0) + 1);
      },
    );
  const one = (token: string) =>
    new Promise<void>((resolve) => {
      const socket = io(args.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000 });
      socket.onAny(onEvent);
      socket.once('connect', () => {
        g.sockets.push(socket);
        resolve();
      });
      socket.once('connect_error', (error: Error) => {
        failed++;
        errors.set(error.message, (errors.get(error.message) ?? 0) + 1);
        socket.close();
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: args.concurrency ?? 50 }, async () => {
      while (next < args.tokens.length) await (args.client === 'raw' ? raw : one)(args.tokens[next++]);
    }),
  );
  return { connected: g.sockets.length, failed, errors: Object.fromEntries(errors), seconds: (performance.now() - started) / 1000 };
}

/** Waits until no socket of any group has had an event for `quietMs` (at most `maxMs`). */
async function quiesce(args: { quietMs: number; maxMs: number }) {
  const started = performance.now();
  for (;;) {
    const last = Math.max(0, ...[...groups.values()].map((g) => g.lastEventAt));
    const now = performance.now();
    if (now - last >= args.quietMs) return { waitedMs: now - started, quiet: true };
    if (now - started >= args.maxMs) return { waitedMs: now - started, quiet: false };
    await new Promise((r) => setTimeout(r, 100));
  }
}

function post(url: string, path: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      url + path,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface FanoutArgs {
  label: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  /** Request bodies, one per wave (cycled). */
  bodies: string[];
  event: string;
  waves: number;
  gapMs: number;
  timeoutMs?: number;
}

/** `waves` times: POST, then the time until every socket of the group has `event`. */
async function fanout(args: FanoutArgs) {
  const g = group(args.label);
  const expected = g.sockets.length;
  const latencies: number[] = [];
  const firsts: number[] = [];
  const posts: number[] = [];
  let timeouts = 0;
  let failures = 0;
  let lastBody = '';
  const cpu = process.cpuUsage();
  for (let i = 0; i < args.waves; i++) {
    let finish!: (at: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    const wave: Wave = { event: args.event, expected, got: 0, first: 0, finish };
    g.wave = wave;
    const t0 = performance.now();
    const answer = await post(args.url, args.path, args.headers, args.bodies[i % args.bodies.length]);
    posts.push(performance.now() - t0);
    if (answer.status !== 201) {
      failures++;
      lastBody = answer.body.slice(0, 300);
    }
    let timer: NodeJS.Timeout | undefined;
    const at = await Promise.race([
      done,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), args.timeoutMs ?? 5000))),
    ]);
    clearTimeout(timer);
    g.wave = null;
    if (at === null) {
      timeouts++;
      await new Promise((r) => setTimeout(r, 1000));
    } else {
      latencies.push(at - t0);
      firsts.push(wave.first - t0);
    }
    await new Promise((r) => setTimeout(r, args.gapMs));
  }
  const used = process.cpuUsage(cpu);
  return {
    sockets: expected,
    latencies,
    firsts,
    posts,
    timeouts,
    failures,
    lastBody,
    clientCpuMsPerWave: (used.user + used.system) / 1000 / args.waves,
  };
}

async function disconnect(args: { label: string }) {
  const g = groups.get(args.label);
  if (!g) return { closed: 0 };
  for (const s of g.sockets) s.close();
  groups.delete(args.label);
  return { closed: g.sockets.length };
}

serve({
  connect,
  quiesce,
  fanout,
  disconnect,
  counts: (args: { label: string }) => ({ connected: group(args.label).sockets.filter((s) => s.connected).length, received: group(args.label).received }),
  memory: () => process.memoryUsage(),
});
