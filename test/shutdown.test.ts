// SIGTERM on a real process (node --import tsx src/main.ts): it stops accepting, lets the request
// in flight finish, closes the sockets as a recoverable transport close, stops its workers,
// closes Redis and the database, and exits 0 within SHUTDOWN_TIMEOUT_MS.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { dbKind, settle, unique } from './helpers/app.js';
import { startNode, type NodeProcess } from './helpers/node-process.js';

// Each test stops its own node; they start together up front (a start takes seconds, and
// much longer while the machine is busy). PGlite in the pglite project: the embedded default.
const nodes: Record<'inFlight' | 'idle' | 'keepAlive' | 'stuck', NodeProcess> = {} as never;
beforeAll(async () => {
  const env = {
    ...(dbKind === 'postgres' ? { DATABASE_URL: inject('databaseUrl') } : {}),
    REDIS_URL: inject('redisUrl'),
  };
  const names = ['inFlight', 'idle', 'keepAlive', 'stuck'] as const;
  const timeouts = ['10000', '10000', '10000', '3000'];
  const results = await Promise.allSettled(
    names.map((name, i) =>
      startNode({ ...env, SHUTDOWN_TIMEOUT_MS: timeouts[i] }).then((n) => (nodes[name] = n)),
    ),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}, 240_000);
afterAll(async () => {
  await Promise.all(Object.values(nodes).map((n) => n.stop(2000)));
});

/** A POST whose body is sent in two parts: the request is in flight until finish() is called. */
function slowRequest(url: string, route: string, payload: unknown) {
  const body = Buffer.from(JSON.stringify(payload));
  const target = new URL(route, url);
  let answer!: Promise<{ status: number; body: any }>;
  const request = http.request({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  });
  answer = new Promise((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null }));
    });
    request.on('error', reject);
  });
  request.write(body.subarray(0, 10));
  return {
    answer,
    finish: () => request.end(body.subarray(10)),
  };
}

const refused = (url: string) =>
  fetch(`${url}/health`).then(
    () => false,
    (error: Error & { cause?: { code?: string } }) => error.cause?.code === 'ECONNREFUSED',
  );

describe('SIGTERM', { timeout: 60_000 }, () => {
  it('finishes the request in flight, refuses new connections, closes sockets recoverably, exits 0', async () => {
    const n = nodes.inFlight;
    const u = await n.user();
    const socket = await n.socket(u);
    const reason = new Promise<string>((resolve) => socket.once('disconnect', (r) => resolve(r)));

    const username = unique('late_');
    const slow = slowRequest(n.url, '/auth/register', { name: 'Late Comer', username, password: 'password123' });
    await settle(300);

    const signalled = Date.now();
    n.child.kill('SIGTERM');
    // A transport close, not "io server disconnect": socket.io-client reconnects by itself (to
    // another node behind the load balancer) and recovers the session.
    expect(await reason).toBe('transport close');
    await settle(300);
    expect(await refused(n.url)).toBe(true);
    expect(n.child.exitCode).toBeNull();

    slow.finish();
    const res = await slow.answer;
    expect(res.status).toBe(201);
    expect(res.body.user.username).toBe(username);

    const exit = await n.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(n.output()).not.toMatch(/"level":(50|60)/);
  });

  it('exits promptly when idle', async () => {
    const n = nodes.idle;
    const u = await n.user();
    await n.socket(u);
    const signalled = Date.now();
    n.child.kill('SIGTERM');
    expect(await n.exited).toEqual({ code: 0, signal: null });
    // Well before the cut at 80% of SHUTDOWN_TIMEOUT_MS (10 s): nothing had to be forced.
    expect(Date.now() - signalled).toBeLessThan(8000);
  });

  it('answers the in-flight request of a kept-alive connection with Connection: close, then closes it', async () => {
    const n = nodes.keepAlive;
    const { port } = new URL(n.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const body = JSON.stringify({ name: 'Kept', username: unique('kept_'), password: 'password123' });
    socket.write(
      `POST /auth/register HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 5)}`,
    );
    await settle(300);
    n.child.kill('SIGTERM');
    await settle(300);
    socket.write(body.slice(5));
    // The server ends the connection after the answer: the client (or load balancer) sends its
    // next request on a new connection, to another node.
    await closed;
    const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1]));
    expect(statuses).toEqual([201]);
    expect(received.toLowerCase()).toMatch(/connection: close/);
    expect(await n.exited).toEqual({ code: 0, signal: null });
  });

  it('still exits within SHUTDOWN_TIMEOUT_MS when a request never finishes', async () => {
    const n = nodes.stuck;
    const stuck = slowRequest(n.url, '/auth/register', { name: 'Stuck', username: unique('stuck_'), password: 'password123' });
    const cut = stuck.answer.then(
      () => 'answered',
      () => 'cut',
    );
    await settle(300);
    const signalled = Date.now();
    n.child.kill('SIGTERM');
    const exit = await n.exited;
    const took = Date.now() - signalled;
    // At 80% of the bound the open connections are cut; the rest still closes in order.
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeGreaterThanOrEqual(2000);
    // Some slack for a busy machine (the signal's and the exit's trips).
    expect(took).toBeLessThan(3000 + 2500);
    expect(await cut).toBe('cut');
  });
});
