// EXPLAIN of GET /chats at benchmark scale (DESIGN.md "Data that must stay fast": no sequential
// scan on messages, participants or chats).
//
//   DATABASE_URL=postgres://... node --import tsx bench/explain-chats.ts
//
// Migrates the database, seeds it once (a few hundred thousand rows; skipped when the seed is
// already there), then prints EXPLAIN (ANALYZE, BUFFERS) of the chat-list statement exactly as
// src/chats/queries.ts builds it, for a viewer in ~12,000 chats and one in a handful, with each
// filter, and fails when a plan has a sequential scan on one of those tables.
import { sql, type SQL } from 'drizzle-orm';
import { listChatsQuery, type ChatListFilter } from '../src/chats/queries.js';
import { openDatabase, rows, type Db } from '../src/db/client.js';

const SCALE = {
  users: 20_000,
  groups: 40_000,
  membersPerGroup: 5,
  /** Group chats the heavy viewer is in, and one-to-one chats they have. */
  heavyGroups: 10_000,
  heavyDirect: 2_000,
  otherDirect: 18_000,
  messages: 600_000,
};

const hexId = (prefix: string, n: string) => sql.raw(`'${prefix}' || lpad(to_hex(${n}), 23, '0')`);
const HEAVY = `a${'1'.padStart(23, '0')}`;
const LIGHT = `a${(SCALE.users - 1).toString(16).padStart(23, '0')}`;

/** Seeds in one transaction, so an interrupted seed leaves nothing half done. */
async function seed(database: Db) {
  await database.transaction(async (tx) => seedRows(tx as unknown as Db));
  // As autovacuum would: statistics and the visibility map (index-only scans) of the new rows.
  await database.execute(sql`vacuum analyze`);
}

async function seedRows(db: Db) {
  const done = await rows(db, sql`select 1 from users where id = ${HEAVY}`);
  if (done.length > 0) {
    console.log('seed present, not seeding again');
    return;
  }
  const step = async (label: string, query: SQL) => {
    const started = Date.now();
    await db.execute(query);
    console.log(`seeded ${label} in ${Date.now() - started} ms`);
  };
  // Users a000..: the heavy viewer is user 1, the light one the last.
  await step('users', sql`insert into users (id, name, username)
    select ${hexId('a', 'g')}, 'User ' || g, 'user_' || g from generate_series(1, ${SCALE.users}) g`);
  // Group chats b000..: the creator is an admin participant; 5 random members each.
  await step('group chats', sql`insert into chats (id, is_group, creator_id, name, category, created_at, updated_at)
    select ${hexId('b', 'g')}, true, ${hexId('a', `(1 + (g::bigint * 7919) % ${SCALE.users})`)}, 'Group ' || g, 'Study',
           now() - make_interval(days => 200) + g * interval '5 minutes', now() - make_interval(days => 200) + g * interval '5 minutes'
    from generate_series(1, ${SCALE.groups}) g`);
  await step('group creators', sql`insert into participants (id, chat_id, user_id, is_admin, is_group)
    select ${hexId('c', 'row_number() over ()')}, c.id, c.creator_id, true, true from chats c where c.is_group`);
  await step('group members', sql`insert into participants (id, chat_id, user_id, is_group)
    select ${hexId('d', 'row_number() over ()')}, ${hexId('b', 'g')}, ${hexId('a', `(2 + (g::bigint * 104729 + k * 15485863) % ${SCALE.users - 2})`)}, true
    from generate_series(1, ${SCALE.groups}) g, generate_series(1, ${SCALE.membersPerGroup}) k
    on conflict do nothing`);
  await step('heavy viewer in groups', sql`insert into participants (id, chat_id, user_id, is_group)
    select ${hexId('e', 'g')}, ${hexId('b', `(g * 4)`)}, ${HEAVY}, true
    from generate_series(1, ${SCALE.heavyGroups}) g
    on conflict do nothing`);
  // One-to-one chats f000..: the heavy viewer with users 2.., then other pairs; a tenth are meet-me.
  await step('connections', sql`insert into connections (id, requester_id, user_id, status)
    select ${hexId('9', 'g')}, ${HEAVY}, ${hexId('a', '(g + 1)')}, 'accepted' from generate_series(1, ${SCALE.heavyDirect / 10}) g`);
  await step('one-to-one chats', sql`insert into chats (id, is_group, creator_id, user_id, pair_key, meet_me_id, created_at, updated_at)
    select ${hexId('f', 'g')}, false, x.a, x.b, least(x.a, x.b) || ':' || greatest(x.a, x.b),
           case when g <= ${SCALE.heavyDirect / 10} then ${hexId('9', 'g')} end,
           now() - make_interval(days => 100) + g * interval '3 minutes', now() - make_interval(days => 100) + g * interval '3 minutes'
    from generate_series(1, ${SCALE.heavyDirect + SCALE.otherDirect}) g,
    lateral (select case when g <= ${SCALE.heavyDirect} then ${sql.raw(`'${HEAVY}'`)} else ${hexId('a', `(2 + (g::bigint * 31) % ${SCALE.users - 2})`)} end as a,
                    ${hexId('a', `(case when g <= ${SCALE.heavyDirect} then g + 1 else 2 + (g::bigint * 31 + 1 + g % 97) % ${SCALE.users - 2} end)`)} as b) x
    on conflict do nothing`);
  await step('one-to-one participants', sql`insert into participants (id, chat_id, user_id, is_admin, is_group)
    select ${hexId('7', 'row_number() over ()')}, c.id, u.user_id, u.user_id = c.creator_id, false
    from chats c, lateral (values (c.creator_id), (c.user_id)) u(user_id) where not c.is_group`);
  await step('participants_count', sql`update chats c set participants_count = n.count
    from (select chat_id, count(*) from participants group by chat_id) n where n.chat_id = c.id`);
  // Messages 8000..: spread over every chat, sent by one of its participants, over 90 days.
  await step('messages', sql`insert into messages (id, chat_id, user_id, text, at)
    select ${hexId('8', 'g')}, c.id, c.creator_id, 'message ' || g, now() - make_interval(secs => (g::bigint * 13) % (90 * 86400))
    from generate_series(1, ${SCALE.messages}) g
    join lateral (select id, creator_id from chats where id = case when g % 3 = 0
        then ${hexId('f', `(1 + g % ${SCALE.heavyDirect + SCALE.otherDirect})`)}
        else ${hexId('b', `(1 + g % ${SCALE.groups})`)} end) c on true`);
  await step('last messages', sql`update chats c set last_message_id = m.id, last_message_at = m.at
    from (select distinct on (chat_id) chat_id, id, at from messages where deleted_at is null
          order by chat_id, at desc, id desc) m where m.chat_id = c.id`);
  await step('participants.activity_at / last_read_at', sql`update participants p
    set activity_at = coalesce(c.last_message_at, c.updated_at),
        last_read_at = coalesce(c.last_message_at, c.updated_at) - interval '3 days'
    from chats c where c.id = p.chat_id`);
}

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must name a PostgreSQL to seed (e.g. a throw-away one)');
  const database = await openDatabase({ url, poolSize: 2, pgliteDir: null });
  try {
    await database.migrate();
    const db = database.db;
    await seed(db);
    const counts = await rows(db, sql`select
      (select count(*)::int from users) as users, (select count(*)::int from chats) as chats,
      (select count(*)::int from participants) as participants, (select count(*)::int from messages) as messages,
      (select count(*)::int from participants where user_id = ${HEAVY}) as "heavyViewerChats"`);
    console.log('rows:', counts[0]);

    const scenarios: [string, string, ChatListFilter][] = [
      ['heavy viewer, page 1', HEAVY, { limit: 10, page: 1 }],
      ['heavy viewer, page 50 of 20', HEAVY, { limit: 20, page: 50 }],
      ['heavy viewer, group=true', HEAVY, { limit: 10, page: 1, group: true }],
      ['heavy viewer, group=false&meetMeOnly=true', HEAVY, { limit: 10, page: 1, group: false, meetMeOnly: true }],
      ['heavy viewer, search=user_12', HEAVY, { limit: 10, page: 1, search: 'user_12' }],
      ['heavy viewer, search=group 4', HEAVY, { limit: 10, page: 1, search: 'Group 4' }],
      ['light viewer, page 1', LIGHT, { limit: 10, page: 1 }],
    ];
    let bad = 0;
    for (const [label, viewer, filter] of scenarios) {
      const plan = await rows<{ 'QUERY PLAN': string }>(
        db,
        sql`explain (analyze, buffers) ${listChatsQuery(viewer, filter, 999)}`,
      );
      const text = plan.map((r) => r['QUERY PLAN']).join('\n');
      const seqScans = [...text.matchAll(/Seq Scan on (messages|participants|chats)\b/g)].map((m) => m[1]);
      // EXPLAIN ANALYZE's own timing overhead inflates its figure: also time the plain statement.
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        await rows(db, listChatsQuery(viewer, filter, 999));
        times.push(performance.now() - started);
      }
      const median = times.sort((x, y) => x - y)[2].toFixed(1);
      console.log(`\n=== ${label}: median ${median} ms over 5 plain runs, ${seqScans.length ? `SEQ SCAN on ${seqScans.join(', ')}` : 'no seq scan on messages/participants/chats'}`);
      console.log(text);
      if (seqScans.length) bad++;
    }
    console.log(bad ? `\n${bad} plan(s) with a sequential scan` : '\nall plans: index scans only on messages, participants, chats');
    process.exitCode = bad ? 1 : 0;
  } finally {
    await database.close();
  }
}

await main();
