// The database out of reach (rulings.md 4: a 500 is always a bug): requests that need it answer
// 503 SERVICE_UNAVAILABLE with Retry-After, /health says db "down", and the service serves again by
// itself once the database is back. The app reaches PostgreSQL through a TCP proxy the test cuts.
import net from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { waitFor } from './chats-fixtures.js';
import { dbKind, startApp } from './helpers/app.js';

/** Forwards 127.0.0.1:port to the target; stop() cuts every connection and refuses new ones. */
function tcpProxy(targetHost: string, targetPort: number) {
  const open = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;
  return {
    get port() {
      return port;
    },
    async start() {
      server = net.createServer((client) => {
        const upstream = net.connect(targetPort, targetHost);
        open.add(client).add(upstream);
        const cut = () => {
          client.destroy();
          upstream.destroy();
          open.delete(client);
          open.delete(upstream);
        };
        client.on('error', cut).on('close', cut);
        upstream.on('error', cut).on('close', cut);
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
    },
    async stop() {
      const closing = server;
      server = null;
      for (const socket of open) socket.destroy();
      open.clear();
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
}

describe.skipIf(dbKind !== 'postgres')('the database out of reach', () => {
  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, /health 503, and recovers when it is back', async () => {
    const target = new URL(inject('databaseUrl'));
    const proxy = tcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(target);
    viaProxy.port = String(proxy.port);
    const t = await startApp({ DATABASE_URL: viaProxy.toString() });
    try {
      const [u, v] = [await t.user(), await t.user()];
      const unseen = await t.user(); // a token never presented before the outage
      // A search is never answered from the chat list cache: it always needs the database.
      const search = () => t.app.inject({ url: '/chats?search=nobody', headers: u.auth });
      expect((await search()).statusCode).toBe(200);

      await proxy.stop();
      const res = await search();
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json()).toMatchObject({ statusCode: 503, error: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' });
      const posted = await t.app.inject({ method: 'POST', url: '/chats', headers: u.auth, payload: { user: v.id } });
      expect(posted.statusCode).toBe(503);
      // Whether the user of a new token exists cannot be told: 503 and a retryable socket error,
      // never the 401 / "unauthorized" that would sign the user out.
      const first = await t.app.inject({ url: '/users/me', headers: unseen.auth });
      expect(first.statusCode, first.body).toBe(503);
      await expect(t.socket(unseen)).rejects.toThrow('service unavailable');
      const health = await t.app.inject({ url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ db: 'down' });

      await proxy.start();
      await waitFor(async () => (await search()).statusCode === 200, 5000);
      expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
      expect((await t.app.inject({ url: '/users/me', headers: unseen.auth })).statusCode).toBe(200);
    } finally {
      await t.close();
      await proxy.stop();
    }
  });
});
