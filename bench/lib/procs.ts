// The processes of a benchmark: the service as users run it (compiled, production mode), the
// baselines beside it, both pinned to core 0, and load generators pinned to core 1, driven over an
// IPC channel so one generator (and its sockets) lives across all rounds.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/servers.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const benchDir = path.join(root, 'bench');
export const outDir = path.join(benchDir, 'out');

export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
export const JWT_SECRET = 'bench-secret-that-is-long-enough-0123456789abcdef';

const children = new Set<ChildProcess>();

/** Every child still running is killed when the orchestrator exits, however it exits. */
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export function build(log: (line: string) => void) {
  if (process.env.BENCH_SKIP_BUILD === '1') return;
  log('build: npm run build');
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`);
}

export interface Server {
  name: string;
  pid: number;
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after `ms`. */
  stop(ms?: number): Promise<void>;
  /** The inspector's WebSocket URL when started with `inspect`. */
  inspectorUrl?: string;
}

interface StartOptions {
  name: string;
  /** Node arguments before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  script: string;
  env: Record<string, string>;
  cpu?: string;
  /** Starts with --inspect on a free port so the benchmark can force a GC (P5). */
  inspect?: boolean;
  /** Printed by the process when it is ready; its first group is the URL. */
  ready: RegExp;
}

async function startProcess(options: StartOptions): Promise<Server> {
  const nodeArgs = [...(options.nodeArgs ?? [])];
  if (options.inspect) nodeArgs.push(`--inspect=127.0.0.1:${await freePort()}`);
  const child = spawn('taskset', ['-c', options.cpu ?? SERVER_CPU, process.execPath, ...nodeArgs, options.script], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start within 60 s:\n${output}`)), 60_000);
    const check = () => {
      const match = options.ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited during start-up:\n${output}`));
    });
  });
  const inspectorUrl = options.inspect ? /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1] : undefined;
  return {
    name: options.name,
    pid: child.pid!,
    url,
    child,
    inspectorUrl,
    output: () => output,
    async stop(ms = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The service's error log lines (pino level 50 and up) in `output`, shortened to what says what
 * went wrong, at most `max`: a 5xx counted by a load generator is explained in the report.
 */
export function loggedErrors(output: string, max = 5): string[] {
  const found: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"level":')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { type?: string; code?: string; message?: string } };
      if ((entry.level ?? 0) < 50) continue;
      const err = entry.err ? ` (${[entry.err.type, entry.err.code, entry.err.message].filter(Boolean).join(' ')})` : '';
      found.push(`${entry.msg ?? ''}${err}`.slice(0, 300));
      if (found.length >= max) break;
    } catch {
      // not a log line
    }
  }
  return found;
}

export interface Infra {
  databaseUrl: string;
  redisUrl: string;
}

/** The service as users run it: dist/src/main.js, NODE_ENV=production, Redis on, pinned to core 0. */
export async function startService(
  infra: Infra,
  options: {
    env?: Record<string, string>;
    nodeArgs?: string[];
    inspect?: boolean;
    name?: string;
    /** Another build of the service (default BENCH_SERVICE_SCRIPT, else this tree's build). */
    script?: string;
  } = {},
): Promise<Server> {
  const port = await freePort();
  return startProcess({
    name: options.name ?? 'service',
    // BENCH_SERVICE_SCRIPT: an older commit's dist/src/main.js, for an A/B of two builds.
    script: options.script ?? process.env.BENCH_SERVICE_SCRIPT ?? 'dist/src/main.js',
    nodeArgs: options.nodeArgs,
    inspect: options.inspect,
    ready: /listening on (http:\/\/[\d.]+:\d+)/,
    env: {
      NODE_ENV: 'production',
      DATABASE_URL: infra.databaseUrl,
      REDIS_URL: infra.redisUrl,
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: mkdtempSync(path.join(tmpdir(), 'chat-bench-service-')),
      ...options.env,
    },
  });
}

/**
 * A baseline server (bench/baselines/*.mjs): plain JavaScript run by plain node, like the compiled
 * service, so neither side carries a TypeScript loader.
 */
export async function startBaseline(
  file: string,
  env: Record<string, string> = {},
  options: { inspect?: boolean; nodeArgs?: string[]; name?: string } = {},
): Promise<Server> {
  const port = await freePort();
  return startProcess({
    name: options.name ?? path.basename(file),
    script: path.join('bench/baselines', file),
    nodeArgs: options.nodeArgs,
    inspect: options.inspect,
    ready: /listening on (http:\/\/[\d.]+:\d+)/,
    env: { PORT: String(port), ...env },
  });
}

export interface LoadGenerator {
  pid: number;
  call<T = any>(cmd: string, args?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** A load generator (bench/load/*.ts) pinned to core 1, answering commands over IPC. */
export function startLoad(file: string, env: Record<string, string> = {}, nodeArgs: string[] = []): LoadGenerator {
  const child = spawn(
    'taskset',
    ['-c', LOAD_CPU, process.execPath, ...nodeArgs, '--import', 'tsx', path.join('bench/load', file)],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  children.add(child);
  let next = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  child.on('message', (msg: any) => {
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.error) w.reject(new Error(msg.error));
    else w.resolve(msg.result);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      for (const w of waiting.values()) w.reject(new Error(`load generator ${file} exited (${code ?? signal})`));
      waiting.clear();
      resolve();
    }),
  );
  return {
    pid: child.pid!,
    call(cmd, args) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ id, cmd, args });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a baseline script (bench/baselines/*.mjs) to its end on core 0; resolves with its stdout. */
export function runPinned(file: string, env: Record<string, string>, cpu = SERVER_CPU): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', cpu, process.execPath, path.join('bench/baselines', file)], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => {
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${file} exited ${code}: ${err}`));
    });
  });
}
