// EXPLAIN (ANALYZE, BUFFERS) of every hot query at bench scale, as the service really sends them:
// the service runs against PostgreSQL as a role whose sessions load auto_explain (log_analyze,
// log_buffers, nested statements too, every statement), each hot request is sent twice (the
// second one is kept, with warm caches), and the plans PostgreSQL logged for it are written to
// bench/plans/<request>.txt. Any sequential scan of messages, participants or chats is reported.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import { type Context } from '../lib/context.js';
import { benchDir, outDir, startService } from '../lib/procs.js';
import { table, type Report } from '../lib/report.js';
import { signToken } from '../lib/tokens.js';
import { layout } from '../scale.js';
import { EXPLORE_SEARCH } from '../seed.js';
import { groupId, heavyAndLight, request, userId } from './common.js';

const ROLE = 'bench_explain';
const HOT_TABLES = /Seq Scan on (messages|participants|chats)\b/g;

interface Hot {
  name: string;
  what: string;
  run(): Promise<unknown>;
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
  await ctx.sql.unsafe(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${ROLE}') then create role ${ROLE} login superuser; end if;
    end $$`);
  for (const setting of [
    `session_preload_libraries = 'auto_explain'`,
    `auto_explain.log_min_duration = 0`,
    `auto_explain.log_analyze = on`,
    `auto_explain.log_buffers = on`,
    `auto_explain.log_timing = on`,
    `auto_explain.log_triggers = on`,
    `auto_explain.log_nested_statements = on`,
    `auto_explain.log_format = 'text'`,
  ]) {
    await ctx.sql.unsafe(`alter role ${ROLE} set ${setting}`);
  }
  const url = new URL(ctx.databaseUrl);
  url.username = ROLE;
  // One connection: the log holds one request's statements at a time, in order.
  const service = await startService(ctx, { env: { DATABASE_URL: url.toString(), DATABASE_POOL_SIZE: '1' } });
  const target = ctx.scale.name === 'full' ? path.join(benchDir, 'plans') : path.join(outDir, 'plans-small');
  try {
    const { heavy, light } = await heavyAndLight(ctx);
    const heavyGroup = groupId(l.heavyStep); // a group the heavy user is in
    const fanout = groupId(l.fanoutGroup);
    const fanoutSender = { authorization: `Bearer ${await signToken(userId(1))}` };
    const get = (path: string, auth: Record<string, string>) => async () => {
      const r = await request(service.url, 'GET', path, auth);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    const post = (path: string, auth: Record<string, string>, body: unknown, status = 201) => async () => {
      const r = await request(service.url, 'POST', path, auth, body);
      if (r.status !== status) throw new Error(`POST ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    const socketOf = async (token: string) => {
      const socket = io(service.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
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
    for (const h of hot) {
      await h.run(); // warm-up
      await new Promise((r) => setTimeout(r, 300));
      const before = statSync(ctx.pgLog).size;
      await h.run();
      await new Promise((r) => setTimeout(r, 500));
      const found = plansOf(h.name === 'socket-typing' ? typingLog : readFrom(ctx.pgLog, before));
      const seq = found.flatMap((p) => [...p.matchAll(HOT_TABLES)].map((m) => m[0]));
      const durations = found.map((p) => Number(/duration: ([\d.]+) ms/.exec(p)?.[1] ?? 0));
      writeFileSync(
        path.join(target, `${h.name}.txt`),
        `-- ${h.what}\n-- ${found.length} statements logged by auto_explain (ANALYZE, BUFFERS), scale ${ctx.scale.name}, ${ctx.machine.date}\n\n` +
          found.join('\n\n----------------------------------------------------------------\n\n') +
          '\n',
      );
      if (seq.length > 0) violations.push(`${h.name}: ${[...new Set(seq)].join(', ')}`);
      rows.push([h.name, h.what, found.length, durations.reduce((a, b) => a + b, 0).toFixed(2), Math.max(0, ...durations).toFixed(2), seq.length ? [...new Set(seq)].join(', ') : 'none']);
      ctx.log(`plans: ${h.name}: ${found.length} statements, ${seq.length ? seq.join(', ') : 'no seq scan of hot tables'}`);
    }
    const markdown = [
      `Plans logged by auto_explain (ANALYZE, BUFFERS, nested statements) while the service answered each request; ` +
        `files in \`${path.relative(process.cwd(), target)}/\`. Times are with warm caches (second request).`,
      '',
      table(['request', 'what', 'statements', 'total ms', 'slowest ms', 'seq scans of messages/participants/chats'], rows),
      '',
      violations.length === 0
        ? '- **No sequential scan of messages, participants or chats.**'
        : `- **Sequential scans of hot tables:** ${violations.join('; ')}`,
    ].join('\n');
    writeFileSync(path.join(target, 'README.md'), `# Query plans at ${ctx.scale.name} scale\n\n${markdown}\n`);
    return { id: 'plans', title: 'Query plans (EXPLAIN ANALYZE, BUFFERS) at bench scale', markdown, raw: { rows, violations, files: readdirSync(target) } };
  } finally {
    await service.stop();
  }
}
