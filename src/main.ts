// Start-up: config → database → storage/push/realtime → HTTP server; and shutdown on SIGTERM.
import { buildApp, type App } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

// The signal handlers are installed before anything starts: a SIGTERM that arrives during start-up
// (an orchestrator scaling down at once) is kept and served once the app is up, instead of
// killing the process halfway through with the default action.
let running: App | null = null;
let signalled: NodeJS.Signals | null = null;
const onSignal = (signal: NodeJS.Signals) => {
  if (signalled) return;
  signalled = signal;
  if (running) void stop(running, signal);
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

let app: App;
try {
  ({ app } = await buildApp({ config }));
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  // A dependency that is configured but unreachable (DATABASE_URL, REDIS_URL) stops start-up.
  console.error(`Start-up failed: ${(error as Error).message}`);
  process.exit(1);
}
running = app;
if (signalled) await stop(app, signalled);

const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
app.log.info(`chat service ready at http://${shownHost}:${port} (API docs: /docs)`);
console.log(`Chat service listening on http://${shownHost}:${port} — API docs at http://${shownHost}:${port}/docs`);

/**
 * SIGTERM: app.close() ends the socket connections (clients reconnect elsewhere and recover what
 * they missed), stops accepting connections, answers 503 to new requests on kept-alive ones, lets
 * in-flight requests finish, then stops the push worker and object deleter after their current
 * pass and closes Redis and the database (hooks in app.ts). All within SHUTDOWN_TIMEOUT_MS: at
 * 80% of it the connections still open are cut so the rest still closes in order; at 100% the
 * process exits 1 whatever is left.
 */
async function stop(app: App, signal: NodeJS.Signals): Promise<never> {
  app.log.info({ signal }, 'shutting down');
  const cut = setTimeout(() => {
    app.log.warn('in-flight requests still open at the shutdown deadline; closing their connections');
    app.server.closeAllConnections();
  }, Math.floor(config.shutdownTimeoutMs * 0.8));
  const timer = setTimeout(() => {
    app.log.error('shutdown timed out; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs);
  cut.unref();
  timer.unref();
  try {
    await app.close();
    app.log.info('shut down cleanly');
    process.exit(0);
  } catch (error) {
    app.log.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
