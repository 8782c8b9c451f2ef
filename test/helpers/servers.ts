// Throw-away servers for the tests: PostgreSQL (initdb/pg_ctl) and Redis, on free loopback ports.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
    server.on('error', reject);
  });
}

/** PostgreSQL refuses to run as root: as root, run its tools as the postgres user. */
function asPostgres(command: string, args: string[]) {
  const isRoot = process.getuid?.() === 0;
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
}

export interface RunningServer {
  url: string;
  /** The same server over its Unix socket (DATABASE_URL `?host=<dir>`, REDIS_URL `?path=<socket>`). */
  socketUrl: string;
  stop(): void;
}

export interface PostgresOptions {
  /**
   * A folder kept across runs (the benchmark's seeded data): initdb only when it has no cluster
   * yet, and stop() leaves it in place. Default: a throw-away folder deleted by stop().
   */
  dir?: string;
  /** Extra server settings, e.g. ['shared_buffers=1GB']. */
  settings?: string[];
}

export async function startPostgres(options: PostgresOptions = {}): Promise<RunningServer & { dir: string; log: string }> {
  const keep = options.dir !== undefined;
  if (keep) mkdirSync(options.dir!, { recursive: true });
  const dir = keep ? path.resolve(options.dir!) : mkdtempSync(path.join(tmpdir(), 'chat-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755);
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  if (!keep || !existsSync(path.join(data, 'PG_VERSION'))) {
    asPostgres(`${PG_BIN}/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  }
  const log = path.join(dir, 'log');
  const settings = (options.settings ?? []).map((s) => ` -c ${s}`).join('');
  asPostgres(`${PG_BIN}/pg_ctl`, [
    '-D', data, '-l', log, '-w', '-t', '300', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300${settings}`,
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    socketUrl: `postgres://postgres@localhost:${port}/postgres?host=${dir}`,
    dir,
    log,
    stop() {
      try {
        // A kept cluster stops cleanly (no crash recovery on the next start).
        asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', keep ? 'fast' : 'immediate', '-w', 'stop']);
      } finally {
        if (!keep) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export async function startRedis(): Promise<RunningServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-redis-'));
  const port = await freePort();
  const pidfile = path.join(dir, 'redis.pid');
  const socket = path.join(dir, 'redis.sock');
  execFileSync('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--unixsocket', socket, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no',
    '--daemonize', 'yes', '--pidfile', pidfile, '--dir', dir,
  ]);
  // The daemonized server binds its port after redis-server has returned: wait until it answers.
  for (let attempt = 0; spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'; attempt++) {
    if (attempt >= 100) throw new Error(`redis-server on port ${port} does not answer`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    socketUrl: `redis://localhost/0?path=${socket}`,
    stop() {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
