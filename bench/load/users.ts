// P6's simulated app users, ramped until a threshold breaks. Each user: connects its socket
// (receives events), opens the chat list, then every ~30 s opens the chat list, reads a chat
// (GET /chats/:id/messages) and sends a message to it. Users are added at a constant rate; every
// window the figures of the window's requests are checked against the thresholds.
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { serve } from './ipc.js';

export interface SimUser {
  token: string;
  chats: string[];
}

export interface RampArgs {
  url: string;
  users: SimUser[];
  /** Users added per second. */
  rampPerSecond: number;
  thinkSeconds: number;
  windowSeconds: number;
  maxSeconds: number;
  thresholds: { avgMs: number; p99Ms: number; errorRate: number };
}

export interface Window {
  at: number;
  users: number;
  requests: number;
  rps: number;
  avgMs: number;
  p99Ms: number;
  errors: number;
  connects: number;
  connectP99Ms: number;
  events: number;
  clientCpu: number;
  clientLagP99Ms: number;
  kinds: Record<string, { n: number; avgMs: number; p99Ms: number }>;
  broken: string | null;
}

function p99(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.99 * (s.length - 1)))];
}

async function ramp(args: RampArgs) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets: Socket[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let latencies: number[] = [];
  let connectTimes: number[] = [];
  let windowErrors = 0;
  let windowEvents = 0;
  let totalRequests = 0;
  let totalErrors = 0;
  const errorSamples = new Map<string, number>();
  const noteError = (what: string) => {
    windowErrors++;
    totalErrors++;
    if (errorSamples.size < 20) errorSamples.set(what, (errorSamples.get(what) ?? 0) + 1);
  };

  // Per kind of request too (list, read, post), to tell which one slows down first.
  let byKind: Record<string, number[]> = {};
  const kindOf = (method: string, path: string) => (method === 'POST' ? 'post' : path.startsWith('/chats?') ? 'list' : 'read');
  const call = (method: string, path: string, token: string, body?: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const kind = kindOf(method, path);
      const done = () => (byKind[kind] ??= []).push(performance.now() - t0);
      totalRequests++;
      const req = request(
        args.url + path,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            done();
            if ((res.statusCode ?? 0) >= 400) noteError(`${method} ${path.split('?')[0].replace(/[0-9a-f]{24}/g, ':id')} ${res.statusCode}`);
            resolve();
          });
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', (error) => {
        latencies.push(performance.now() - t0);
        done();
        noteError(`${method} ${error.message}`);
        resolve();
      });
      req.end(body);
    });

  const cycle = async (user: SimUser, n: number) => {
    if (stopped) return;
    const chat = user.chats[Math.floor(Math.random() * user.chats.length)];
    await call('GET', '/chats?limit=10', user.token);
    await call('GET', `/chats/${chat}/messages?limit=30`, user.token);
    await call('POST', `/chats/${chat}/messages`, user.token, JSON.stringify({ text: `sim message ${n}` }));
  };

  const start = (user: SimUser) => {
    const t0 = performance.now();
    const socket = io(args.url, { auth: { token: user.token }, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 30_000 });
    sockets.push(socket);
    socket.on('message-created', () => windowEvents++);
    socket.once('connect', () => {
      connectTimes.push(performance.now() - t0);
      // The app opens: the chat list; then a cycle every ~30 s, the first at a random moment.
      void call('GET', '/chats?limit=10', user.token);
      let n = 0;
      const schedule = (delay: number) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          void cycle(user, n++);
          if (!stopped) schedule(args.thinkSeconds * 1000 * (0.9 + Math.random() * 0.2));
        }, delay);
        timers.add(timer);
      };
      schedule(Math.random() * args.thinkSeconds * 1000);
    });
    socket.once('connect_error', (error: Error) => {
      connectTimes.push(performance.now() - t0);
      noteError(`socket ${error.message}`);
    });
  };

  const windows: Window[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const started = performance.now();
  let added = 0;
  let reached = 0;
  let brokenBy: string | null = null;
  let cpu = process.cpuUsage();

  await new Promise<void>((resolve) => {
    const adder = setInterval(() => {
      if (stopped) return;
      const due = Math.min(args.users.length, Math.floor(((performance.now() - started) / 1000) * args.rampPerSecond));
      while (added < due) start(args.users[added++]);
    }, 50);
    const checker = setInterval(() => {
      const at = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const avg = latencies.length > 0 ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0;
      const w: Window = {
        at: Math.round(at),
        users: sockets.filter((s) => s.connected).length,
        requests: latencies.length,
        rps: latencies.length / args.windowSeconds,
        avgMs: avg,
        p99Ms: p99(latencies),
        errors: windowErrors,
        connects: connectTimes.length,
        connectP99Ms: p99(connectTimes),
        events: windowEvents,
        clientCpu: (used.user + used.system) / 1e6 / args.windowSeconds,
        clientLagP99Ms: lag.percentile(99) / 1e6,
        kinds: Object.fromEntries(
          Object.entries(byKind).map(([k, v]) => [k, { n: v.length, avgMs: v.reduce((a, b) => a + b, 0) / v.length, p99Ms: p99(v) }]),
        ),
        broken: null,
      };
      byKind = {};
      lag.reset();
      const errorRate = totalRequests > 0 ? totalErrors / totalRequests : 0;
      if (w.avgMs > args.thresholds.avgMs) w.broken = `average latency ${w.avgMs.toFixed(0)} ms > ${args.thresholds.avgMs} ms`;
      else if (w.p99Ms > args.thresholds.p99Ms) w.broken = `p99 ${w.p99Ms.toFixed(0)} ms > ${args.thresholds.p99Ms} ms`;
      else if (errorRate > args.thresholds.errorRate) {
        w.broken = `errors ${(errorRate * 100).toFixed(3)}% > ${(args.thresholds.errorRate * 100).toFixed(3)}%`;
      }
      windows.push(w);
      latencies = [];
      connectTimes = [];
      windowErrors = 0;
      windowEvents = 0;
      const all = added >= args.users.length;
      if (w.broken) brokenBy = w.broken;
      else reached = w.users;
      // Stop at the first broken window, after a full cycle at the largest number of users, or
      // at the time limit.
      const steadyAtMax = all && at - args.users.length / args.rampPerSecond >= args.thinkSeconds;
      if (w.broken || steadyAtMax || at >= args.maxSeconds) {
        stopped = true;
        clearInterval(adder);
        clearInterval(checker);
        resolve();
      }
    }, args.windowSeconds * 1000);
  });

  lag.disable();
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.disconnect();
  agent.destroy();
  return {
    reached,
    brokenBy,
    added,
    windows,
    totalRequests,
    totalErrors,
    errors: Object.fromEntries(errorSamples),
    seconds: (performance.now() - started) / 1000,
  };
}

serve({ ramp });
