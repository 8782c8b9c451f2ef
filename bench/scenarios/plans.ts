// EXPLAIN (ANALYZE, BUFFERS) of every hot query at bench scale, as the service really sends them:
// the service runs against PostgreSQL as a role whose sessions load auto_explain (log_analyze,
// log_buffers, nested statements too, every statement), each hot request is sent twice (the
// second one is kept, with warm caches), and the plans PostgreSQL logged for it are written to
// bench/plans/<request>.txt. Any sequential scan of messages, participants or chats is reported.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { io } from 'socket.io-client';
import { type Context } from '../lib/context.js';
import { benchDir, outDir, root, startService } from '../lib/procs.js';
import { table, type Report } from '../lib/report.js';
import { signToken } from '../lib/tokens.js';
import { layout } from '../scale.js';
import { postgresTarget } from '../../src/db/client.js';
import { EXPLORE_SEARCH } from '../seed.js';
import { groupId, heavyAndLight, request, userId } from './common.js';

const ROLE = 'bench_explain';
const HOT_TABLES = /Seq Scan on (messages|participants|chats)\b/g;

interface Hot {
  name: string;
  what: string;
  run(): Promise<unknown>;
  /** Run against a service with the chat list cache on (no nested pass: it calls no SQL function). */
  cached?: boolean;
}

function readFrom(file: string, offset: number): string {
  const buffer = readFileSync(file);
  return buffer.subarray(offset).toString('utf8');
}

/** auto_explain entries ("duration: ... plan:") of a slice of the server log, prefix removed. */
function plansOf(log: string): string[] {
  const records: string[] = [];
  let current: string[] | null = null;
  for (const line of log.split('\n')) {
    const head = /^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] (\w+):\s+(.*)$/.exec(line);
    if (head) {
      if (current) records.push(current.join('\n'));
      current = head[1] === 'LOG' && head[2].includes('plan:') ? [head[2]] : null;
    } else if (current) {
      current.push(line.replace(/^\t/, ''));
    }
  }
  if (current) records.push(current.join('\n'));
  return records;
}

export async function plans(ctx: Context): Promise<Report> {
  const l = layout(ctx.scale);
  // Two roles: top-level statements only (true timings), and nested statements too (the plans of
  // what runs inside SQL functions such as message_json, called per row).
  for (const [role, nested] of [
    [ROLE, 'off'],
    [`${ROLE}_nested`, 'on'],
  ] as const) {
    await ctx.sql.unsafe(`do $$ begin
        if not exists (select 1 from pg_roles where rolname = '${role}') then create role ${role} login superuser; end if;
      end $$`);
    for (const setting of [
      `session_preload_libraries = 'auto_explain'`,
      `auto_explain.log_min_duration = 0`,
      `auto_explain.log_analyze = on`,
      `auto_explain.log_buffers = on`,
      `auto_explain.log_timing = on`,
      `auto_explain.log_triggers = on`,
      `auto_explain.log_nested_statements = ${nested}`,
      `auto_explain.log_format = 'text'`,
    ]) {
      await ctx.sql.unsafe(`alter role ${role} set ${setting}`);
    }
  }
  const urlOf = (role: string) => {
    const url = new URL(ctx.databaseUrl);
    url.username = role;
    return url.toString();
  };
  // Requests one at a time, workers only when woken (no polling in the log). Pool 2, not 1: with
  // DATABASE_POOL_SIZE=1 the service hangs at start-up (src/db/client.ts migrate() reserves the
  // only connection for its advisory lock, then migrates through the pool).
  // The chat list cache off: the plans are of the statements (a cached GET /chats runs none).
  const quiet = { DATABASE_POOL_SIZE: '2', PUSH_WORKER_INTERVAL_MS: '600000', CHAT_LIST_CACHE_USERS: '0' };
  const service = await startService(ctx, { env: { DATABASE_URL: urlOf(ROLE), ...quiet } });
  const nestedService = await startService(ctx, { env: { DATABASE_URL: urlOf(`${ROLE}_nested`), ...quiet }, name: 'service-nested' });
  // The chat list cache on, for the statement a cached first page runs when a chat moves into it;
  // started for those requests only (its background statements would land in the others' logs).
  let cachedService: Awaited<ReturnType<typeof startService>> | null = null;
  const target = ctx.scale.name === 'full' ? path.join(benchDir, 'plans') : path.join(outDir, 'plans-small');
  try {
    const { heavy, light } = await heavyAndLight(ctx);
    const heavyGroup = groupId(l.heavyStep); // a group the heavy user is in
    const fanout = groupId(l.fanoutGroup);
    const fanoutSender = { authorization: `Bearer ${await signToken(userId(1))}` };
    let base = service.url;
    const get = (path: string, auth: Record<string, string>) => async () => {
      const r = await request(base, 'GET', path, auth);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    const post = (path: string, auth: Record<string, string>, body: unknown, status = 201) => async () => {
      const r = await request(base, 'POST', path, auth, body);
      if (r.status !== status) throw new Error(`POST ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    const socketOf = async (token: string) => {
      const socket = io(base, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      return socket;
    };
    const heavyToken = heavy.auth.authorization.slice(7);
    const hot: Hot[] = [
      { name: 'get-chats-heavy', what: `GET /chats?limit=10, user in ${ctx.scale.heavyChats} chats`, run: get('/chats?limit=10', heavy.auth) },
      { name: 'get-chats-light', what: `GET /chats?limit=10, user in ${ctx.scale.lightChats} chats`, run: get('/chats?limit=10', light.auth) },
      { name: 'get-chats-heavy-page-100', what: 'GET /chats?limit=10&page=100 (offset 990)', run: get('/chats?limit=10&page=100', heavy.auth) },
      { name: 'get-chats-heavy-groups', what: 'GET /chats?group=true', run: get('/chats?limit=10&group=true', heavy.auth) },
      { name: 'get-chats-heavy-search', what: 'GET /chats?search=user 12', run: get('/chats?limit=10&search=user%2012', heavy.auth) },
      { name: 'get-chats-heavy-meetme', what: 'GET /chats?group=false&meetMeOnly=true', run: get('/chats?limit=10&group=false&meetMeOnly=true', heavy.auth) },
      { name: 'get-chat', what: 'GET /chats/:id', run: get(`/chats/${heavyGroup}`, heavy.auth) },
      { name: 'get-messages', what: 'GET /chats/:id/messages?limit=30', run: get(`/chats/${heavyGroup}/messages?limit=30`, heavy.auth) },
      { name: 'get-files', what: 'GET /chats/:id/files?type=image', run: get(`/chats/${heavyGroup}/files?type=image`, heavy.auth) },
      {
        name: 'explore-heavy',
        what: `GET /chats/explore/communities?search=${EXPLORE_SEARCH}`,
        run: get(`/chats/explore/communities?search=${EXPLORE_SEARCH}&limit=10`, heavy.auth),
      },
      {
        name: 'explore-category',
        what: `GET /chats/explore/communities?search=${EXPLORE_SEARCH}&category=Music`,
        run: get(`/chats/explore/communities?search=${EXPLORE_SEARCH}&category=Music&limit=10`, heavy.auth),
      },
      { name: 'post-message', what: 'POST /chats/:id/messages (group of 6)', run: post(`/chats/${heavyGroup}/messages`, heavy.auth, { text: 'plan' }) },
      {
        name: 'post-message-fanout',
        what: `POST /chats/:id/messages (group of ${ctx.scale.fanout})`,
        run: post(`/chats/${fanout}/messages`, fanoutSender, { text: 'plan' }),
      },
      { name: 'post-read', what: 'POST /chats/:id/read', run: post(`/chats/${heavyGroup}/read`, heavy.auth, {}, 200) },
      {
        name: 'get-chats-moved-in',
        what: 'GET /chats?limit=10 cached, after the user posted into their least recent chat (src/chats/list-patch.ts: that chat read alone)',
        cached: true,
        run: async () => {
          await get('/chats?limit=10', light.auth)();
          const [oldest] = await ctx.sql<{ chat_id: string }[]>`
            select chat_id from participants where user_id = ${light.id} order by activity_at, chat_id limit 1`;
          await post(`/chats/${oldest.chat_id.trim()}/messages`, light.auth, { text: 'plan' })();
          await get('/chats?limit=10', light.auth)();
        },
      },
      {
        name: 'socket-connect-heavy',
        what: 'socket connect of the heavy user (presence: contacts of a user in all its chats)',
        run: async () => {
          const socket = await socketOf(heavyToken);
          await new Promise((r) => setTimeout(r, 1500));
          socket.disconnect();
          await new Promise((r) => setTimeout(r, 1500));
        },
      },
      {
        name: 'socket-typing',
        what: 'typing relay (chat peers)',
        run: async () => {
          const socket = await socketOf(heavyToken);
          await new Promise((r) => setTimeout(r, 1000));
          const before = statSync(ctx.pgLog).size;
          socket.emit('typing', { chat: heavyGroup });
          await new Promise((r) => setTimeout(r, 500));
          typingLog = readFrom(ctx.pgLog, before);
          socket.disconnect();
          await new Promise((r) => setTimeout(r, 1500));
        },
      },
    ];
    let typingLog = '';
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    const rows: (string | number)[][] = [];
    const violations: string[] = [];
    // Until the log stops growing: the workers a request woke (push delivery) have finished.
    const logQuiet = async () => {
      let size = statSync(ctx.pgLog).size;
      for (;;) {
        await new Promise((r) => setTimeout(r, 400));
        const now = statSync(ctx.pgLog).size;
        if (now === size) return;
        size = now;
      }
    };
    // Each request twice (the second is kept, with warm caches) against one service.
    const capture = async (h: Hot): Promise<string[]> => {
      await h.run();
      await logQuiet();
      const before = statSync(ctx.pgLog).size;
      await h.run();
      await logQuiet();
      return plansOf(h.name === 'socket-typing' ? typingLog : readFrom(ctx.pgLog, before));
    };
    // The push worker's statements (src/push/worker.ts), woken after commit by the request's
    // outbox rows: shown apart, they are not the request's own.
    const isWorker = (query: string) =>
      /^(update push_outbox|select token, platform from devices|delete from devices|select id, key, attempts from pending_object_deletes|delete from pending_object_deletes|update pending_object_deletes)/i.test(
        query,
      );
    const queryOf = (plan: string) => /Query Text:([\s\S]*?)\n(?=\S)/.exec(plan)?.[1].trim() ?? plan;
    for (const h of hot) {
      if (h.cached) {
        cachedService ??= await startService(ctx, {
          env: { DATABASE_URL: urlOf(ROLE), ...quiet, CHAT_LIST_CACHE_USERS: '10000' },
          name: 'service-cached',
        });
      } else if (cachedService) {
        await cachedService.stop();
        cachedService = null;
      }
      base = cachedService?.url ?? service.url;
      const logged = await capture(h);
      const found = logged.filter((p) => !isWorker(queryOf(p)));
      const worker = new Map<string, { plan: string; calls: number }>();
      for (const plan of logged.filter((p) => isWorker(queryOf(p)))) {
        const seen = worker.get(queryOf(plan));
        if (seen) seen.calls++;
        else worker.set(queryOf(plan), { plan, calls: 1 });
      }
      base = nestedService.url;
      const top = new Set(logged.map(queryOf));
      const nested = new Map<string, { plan: string; calls: number }>();
      for (const plan of h.cached ? [] : await capture(h)) {
        const query = queryOf(plan);
        if (top.has(query)) continue;
        const seen = nested.get(query);
        if (seen) seen.calls++;
        else nested.set(query, { plan, calls: 1 });
      }
      const all = [...logged, ...[...nested.values()].map((n) => n.plan)];
      const seq = all.flatMap((p) => [...p.matchAll(HOT_TABLES)].map((m) => m[0]));
      const durations = found.map((p) => Number(/duration: ([\d.]+) ms/.exec(p)?.[1] ?? 0));
      const rule = '\n\n----------------------------------------------------------------\n\n';
      writeFileSync(
        path.join(target, `${h.name}.txt`),
        `-- ${h.what}\n-- ${found.length} statements logged by auto_explain (ANALYZE, BUFFERS), scale ${ctx.scale.name}, ${ctx.machine.date}\n\n` +
          found.join(rule) +
          (nested.size > 0
            ? `\n\n================ statements run inside SQL functions (log_nested_statements; one plan each, calls counted) ================\n\n` +
              [...nested.values()].map((n) => `-- called ${n.calls} times in this request\n${n.plan}`).join(rule)
            : '') +
          (worker.size > 0
            ? `\n\n================ push worker statements woken by this request (src/push/worker.ts; one plan each, calls counted) ================\n\n` +
              [...worker.values()].map((n) => `-- run ${n.calls} times\n${n.plan}`).join(rule)
            : '') +
          '\n',
      );
      const nestedCalls = [...nested.values()].reduce((a, n) => a + n.calls, 0);
      if (seq.length > 0) violations.push(`${h.name}: ${[...new Set(seq)].join(', ')}`);
      rows.push([
        h.name,
        h.what,
        found.length,
        nestedCalls,
        [...worker.values()].reduce((a, n) => a + n.calls, 0),
        durations.reduce((a, b) => a + b, 0).toFixed(2),
        Math.max(0, ...durations).toFixed(2),
        seq.length ? [...new Set(seq)].join(', ') : 'none',
      ]);
      ctx.log(`plans: ${h.name}: ${found.length} statements (+${nestedCalls} nested), ${seq.length ? seq.join(', ') : 'no seq scan of hot tables'}`);
    }
    let markdown = [
      `Plans logged by auto_explain (ANALYZE, BUFFERS) while the service answered each request (the second of two: warm caches); ` +
        `files in \`${path.relative(process.cwd(), target)}/\`. Times are the top-level statements' (logged without nested statements); ` +
        `a second service logging nested statements too adds the plans of statements run inside SQL functions ("nested calls": how many ran).`,
      '',
      table(['request', 'what', 'statements', 'nested calls', 'push worker statements', 'total ms', 'slowest ms', 'seq scans of messages/participants/chats'], rows),
      '',
      violations.length === 0
        ? '- **No sequential scan of messages, participants or chats.**'
        : `- **Sequential scans of hot tables:** ${violations.join('; ')}`,
    ].join('\n');
    const chatsList = ctx.scale.name === 'full' || process.env.BENCH_EXPLAIN_CHATS === '1' ? await explainChats(ctx, target) : null;
    if (chatsList) markdown += `\n- ${chatsList}`;
    writeFileSync(path.join(target, 'README.md'), `# Query plans at ${ctx.scale.name} scale\n\n${markdown}\n`);
    return { id: 'plans', title: 'Query plans (EXPLAIN ANALYZE, BUFFERS) at bench scale', markdown, raw: { rows, violations, files: readdirSync(target) } };
  } finally {
    await service.stop();
    await nestedService.stop();
    await cachedService?.stop();
  }
}

/**
 * The chats engineer's bench/explain-chats.ts (EXPLAIN of the chat-list statement with every
 * filter, on its own seed) run on its own database of the same server; its output is kept beside
 * the service's plans. Its seed stays in that database, so later runs only explain.
 */
async function explainChats(ctx: Context, target: string): Promise<string> {
  const url = new URL(ctx.databaseUrl);
  url.pathname = '/explain_chats';
  // Pre-release the migrations are regenerated in place: a database migrated by older ones is
  // dropped (the script would try to create its tables again).
  const journal = JSON.parse(readFileSync(path.join(root, 'drizzle/meta/_journal.json'), 'utf8')) as { entries: { when: number }[] };
  const latest = Math.max(...journal.entries.map((e) => e.when));
  const exists = await ctx.sql`select 1 from pg_database where datname = 'explain_chats'`;
  if (exists.length > 0) {
    const target = postgresTarget(url.toString());
    const other = postgres(target.url, { path: target.path, max: 1, onnotice: () => {} });
    const applied = await other`select max(created_at)::bigint as at from drizzle.__drizzle_migrations`.catch(() => [{ at: null }]);
    await other.end();
    if (Number(applied[0]?.at) !== latest) {
      ctx.log('plans: explain_chats was migrated by older migrations: recreating it');
      await ctx.sql.unsafe('drop database explain_chats');
    }
  }
  if ((await ctx.sql`select 1 from pg_database where datname = 'explain_chats'`).length === 0) {
    await ctx.sql.unsafe('create database explain_chats');
  }
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/explain-chats.ts'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: url.toString() },
    encoding: 'utf8',
    timeout: 10 * 60 * 1000,
  });
  writeFileSync(path.join(target, 'explain-chats.txt'), `${result.stdout}\n${result.stderr}`);
  const verdict = result.status === 0 ? 'no sequential scan' : `exit ${result.status ?? result.signal}: see the file`;
  ctx.log(`plans: bench/explain-chats.ts: ${verdict}`);
  return `bench/explain-chats.ts (the chat-list statement with each filter, on its own seed): ${verdict} — \`explain-chats.txt\``;
}
