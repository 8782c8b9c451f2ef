// The real service as a separate process (`node --import tsx src/main.ts`), for what one process
// cannot show: several nodes on one PostgreSQL and one Redis, a node killed, SIGTERM shutdown.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as connect, type Socket, type SocketOptions, type ManagerOptions } from 'socket.io-client';
import { TEST_JWT_SECRET, unique, type TestUser } from './app.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  exited: Promise<Exit>;
  /** A new user registered through this node. */
  user(): Promise<TestUser>;
  /** A connected socket.io client of this node (no automatic reconnection unless asked). */
  socket(user: TestUser, options?: Partial<ManagerOptions & SocketOptions>): Promise<Socket>;
  request(method: string, url: string, user?: TestUser, body?: unknown): Promise<{ status: number; body: any }>;
  /** SIGTERM, then SIGKILL if it has not exited after `ms`. */
  stop(ms?: number): Promise<Exit>;
}

/** Starts a node with the test defaults and `env`; resolves once it listens. */
export async function startNode(env: Record<string, string>): Promise<NodeProcess> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-node-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      JWT_SECRET: TEST_JWT_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_POOL_SIZE: '5',
      PUSH_WORKER_INTERVAL_MS: '60000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node did not start within 180 s:\n${output}`));
    }, 180_000);
    const onData = () => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`node exited during start-up (${exit.code ?? exit.signal}):\n${output}`));
    });
  });

  const sockets: Socket[] = [];
  const node: NodeProcess = {
    url,
    pid: child.pid!,
    child,
    output: () => output,
    exited,
    async request(method, route, user, body) {
      const res = await fetch(url + route, {
        method,
        headers: {
          ...(user ? user.auth : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async user() {
      const username = unique('node_');
      const name = `Name ${username}`;
      const res = await node.request('POST', '/auth/register', undefined, { name, username, password: 'password123' });
      if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
      const token = res.body.token as string;
      return { id: res.body.user._id, name, username, token, auth: { authorization: `Bearer ${token}` } };
    },
    async socket(user, options = {}) {
      const socket = connect(url, {
        auth: { token: user.token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        ...options,
      });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      return socket;
    },
    async stop(ms = 15_000) {
      for (const s of sockets) s.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      }
      return exited;
    },
  };
  return node;
}
