// Seeds the benchmark data into a real PostgreSQL, in SQL (INSERT ... SELECT from generate_series),
// once: a marker table remembers what was seeded, so every scenario of a run, and later runs, reuse
// it. The rows are consistent with what the service keeps denormalized (src/db/schema.ts):
// chats.last_message_id/last_message_at (the newest message), chats.participants_count,
// participants.is_group and participants.activity_at = coalesce(last_message_at, updated_at).
//
//   node --import tsx bench/seed.ts            (DATABASE_URL, BENCH_SCALE=small|full, BENCH_RESEED=1)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { layout, scaleFromEnv, type Scale } from './scale.js';

/** Bump when the seed's shape changes: a different version reseeds. */
const SEED_VERSION = 3;
/** The 4-byte seconds part of every seeded id (rulings.md 1 layout): 2025-06-15. */
const ID_SECONDS = 1_750_000_000;

export const KIND = {
  user: 1,
  group: 2,
  oneToOne: 3,
  groupParticipant: 4,
  fanoutParticipant: 5,
  oneToOneParticipant: 6,
  reel: 7,
  joinRequest: 8,
  message: 9,
  file: 10,
} as const;

/** The same ids the seed's SQL makes: 8 hex seconds, 2 hex kind, 14 hex number. */
export function benchId(kind: number, n: number): string {
  return ID_SECONDS.toString(16).padStart(8, '0') + kind.toString(16).padStart(2, '0') + n.toString(16).padStart(14, '0');
}

const WORDS = [
  'Math', 'Physics', 'Chemistry', 'Biology', 'History', 'Art', 'Music', 'Chess', 'Football', 'Basketball',
  'Tennis', 'Running', 'Hiking', 'Cooking', 'Baking', 'Movies', 'Anime', 'Gaming', 'Coding', 'Design',
  'Photography', 'Travel', 'Yoga', 'Dance', 'Poetry', 'Books', 'Jazz', 'Rock', 'Startup', 'Finance',
  'Language', 'Spanish', 'French', 'German', 'Robotics', 'Astronomy', 'Theatre', 'Volunteering', 'Gardening', 'Fashion',
];
/** The explore search the benchmark sends: one of WORDS, so it matches about 5% of the groups. */
export const EXPLORE_SEARCH = 'chess';
const CATEGORIES = ['Study', 'Courses', 'Event', 'Sports', 'Music', 'Gaming', 'Party', 'Social', 'Other'];
const STUDY_TAGS = '[{"tag":"exams","label":"Exams"},{"tag":"lectures","label":"Lectures & Summaries"}]';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The migrations of the built service (dist/drizzle, copied by npm run build): the service runs
 * the same ones at start-up and finds nothing left to apply.
 */
export const builtMigrations = path.resolve(here, '../dist/drizzle');

/** Changes whenever the migrations change (pre-release they are regenerated in place). */
function migrationsHash(migrationsFolder: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(migrationsFolder).sort()) {
    if (file.endsWith('.sql')) hash.update(file).update(readFileSync(path.join(migrationsFolder, file)));
  }
  hash.update(readFileSync(path.join(here, 'seed.ts')));
  return hash.digest('hex').slice(0, 16);
}

export interface SeedInfo {
  scale: Scale['name'];
  seededAt: string;
  seconds: number;
  counts: Record<string, number>;
  reused: boolean;
}

export async function seed(
  url: string,
  scale: Scale,
  options: { force?: boolean; log?: (line: string) => void; migrationsFolder?: string } = {},
): Promise<SeedInfo> {
  const log = options.log ?? ((line: string) => console.log(line));
  const migrationsFolder = options.migrationsFolder ?? builtMigrations;
  const key = `v${SEED_VERSION}:${scale.name}:${migrationsHash(migrationsFolder)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
  try {
    const marker = await admin`select to_regclass('public.bench_seed') is not null as present`;
    if (marker[0].present && !options.force) {
      const found = await admin`select key, info from bench_seed where key = ${key}`;
      if (found.length > 0) return { ...(found[0].info as SeedInfo), reused: true };
    }
    // Anything else here (another scale, older migrations or seed): start from an empty schema.
    log(`seed: (re)creating the schema for ${key}`);
    await admin.unsafe(`drop schema if exists public cascade; drop schema if exists drizzle cascade; create schema public;`);
  } finally {
    await admin.end();
  }

  const migrator = postgres(url, { max: 1, onnotice: () => {} });
  await migrate(drizzle(migrator), { migrationsFolder });
  await migrator.end();

  const started = Date.now();
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
  try {
    await sql.unsafe(seedSql(scale));
    log(`seed: rows written in ${((Date.now() - started) / 1000).toFixed(1)} s; vacuum analyze`);
    await sql.unsafe('vacuum analyze');
    const counts: Record<string, number> = {};
    for (const table of ['users', 'devices', 'chats', 'participants', 'messages', 'message_files', 'reels', 'join_requests']) {
      counts[table] = Number((await sql.unsafe(`select count(*)::int as n from ${table}`))[0].n);
    }
    const info: SeedInfo = {
      scale: scale.name,
      seededAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      counts,
      reused: false,
    };
    await sql`create table if not exists bench_seed (key text primary key, info jsonb not null)`;
    await sql`insert into bench_seed ${sql({ key, info: sql.json(info as any) })}`;
    log(`seed: done in ${info.seconds} s: ${JSON.stringify(counts)}`);
    return info;
  } finally {
    await sql.end();
  }
}

/** The whole seed as one SQL script (one connection: the helper functions live in pg_temp). */
export function seedSql(scale: Scale): string {
  const l = layout(scale);
  const U = scale.users;
  const G = scale.groups;
  const M = scale.messages;
  const oneToOnes = l.heavyOneToOne + l.lightOneToOne + U / 2;
  const NC = G + 1 + oneToOnes; // every chat: groups, the fan-out group, the one-to-ones
  const words = `array[${WORDS.map((w) => `'${w}'`).join(',')}]`;
  const categories = `array[${CATEGORIES.map((c) => `'${c}'`).join(',')}]`;
  return `
set session_replication_role = replica; -- the rows are consistent by construction: skip FK triggers
set work_mem = '256MB';
set maintenance_work_mem = '1GB';

create function pg_temp.oid(k int, n bigint) returns char(24) language sql immutable as
  $$ select lpad(to_hex(${ID_SECONDS}), 8, '0') || lpad(to_hex(k), 2, '0') || lpad(to_hex(n), 14, '0') $$;
-- member j (0..4, 0 = admin) of group g
create function pg_temp.member(g bigint, j int) returns bigint language sql immutable as
  $$ select ((g + j * ${l.stride}) % ${U}) + 1 $$;
-- one-to-one chat k: the heavy user's, the light user's, then crowd pairs (2i-1, 2i)
create function pg_temp.o2o_creator(k bigint) returns bigint language sql immutable as
  $$ select case when k <= ${l.heavyOneToOne} then ${l.heavyUser}
                 when k <= ${l.heavyOneToOne + l.lightOneToOne} then ${l.lightUser}
                 else 2 * (k - ${l.heavyOneToOne + l.lightOneToOne}) - 1 end $$;
create function pg_temp.o2o_user(k bigint) returns bigint language sql immutable as
  $$ select case when k <= ${l.heavyOneToOne + l.lightOneToOne} then k
                 else 2 * (k - ${l.heavyOneToOne + l.lightOneToOne}) end $$;
-- chat number i (0..NC-1) of the round-robin that gives messages their chat
create function pg_temp.chat_of(i bigint) returns char(24) language sql immutable as
  $$ select case when i <= ${G} then pg_temp.oid(${KIND.group}, i + 1) else pg_temp.oid(${KIND.oneToOne}, i - ${G}) end $$;
create function pg_temp.sender(n bigint) returns bigint language sql immutable as
  $$ select case when n % ${NC} < ${G} then pg_temp.member(n % ${NC} + 1, ((n / ${NC}) % 5)::int)
                 when n % ${NC} = ${G} then ((n / ${NC}) % ${scale.fanout}) + 1
                 when (n / ${NC}) % 2 = 0 then pg_temp.o2o_creator(n % ${NC} - ${G})
                 else pg_temp.o2o_user(n % ${NC} - ${G}) end $$;
create function pg_temp.t0() returns timestamptz language sql stable as $$ select date_trunc('second', now()) $$;
-- message n's time: spread over the last 30 days, in n order
create function pg_temp.msg_at(n bigint) returns timestamptz language sql stable as
  $$ select pg_temp.t0() - interval '30 days' + (n::float8 / ${M}) * interval '30 days' $$;
-- the newest message of chat number i
create function pg_temp.last_n(i bigint) returns bigint language sql immutable as
  $$ select ${M} - ((${M} - i) % ${NC}) $$;
create function pg_temp.group_created(g bigint) returns timestamptz language sql stable as
  $$ select pg_temp.t0() - interval '60 days' + g * interval '1 second' $$;

insert into users (id, name, username, photo, created_at, updated_at)
select pg_temp.oid(${KIND.user}, n),
       case n when ${l.heavyUser} then 'Heavy Bench' when ${l.lightUser} then 'Light Bench' else 'User ' || n end,
       case n when ${l.heavyUser} then 'bench_heavy' when ${l.lightUser} then 'bench_light' else 'user_' || n end,
       case when n % 3 = 0 then 'https://cdn.example.com/users/' || n || '/photo.jpg' end,
       pg_temp.t0() - interval '90 days', pg_temp.t0() - interval '90 days'
from generate_series(1, ${U + 2}) n;

-- Half the users have a registered device (the app registers one at sign-in; the others signed out
-- or turned notifications off). Only they get push rows (src/push/queries.ts insertPushRows).
insert into devices (token, user_id, platform, created_at, updated_at)
select 'bench-device-' || n, pg_temp.oid(${KIND.user}, n), case when n % 4 = 0 then 'ios' else 'android' end,
       pg_temp.t0() - interval '30 days', pg_temp.t0() - interval '30 days'
from generate_series(2, ${U + 2}, 2) n;

-- Messages and files: indexes are built after the rows (faster than maintaining them per row).
create temp table saved_indexes as
  select indexdef, indexname from pg_indexes
  where schemaname = 'public' and tablename in ('messages', 'message_files', 'participants', 'reels', 'chats')
    and indexname not in (select conname from pg_constraint where contype in ('p', 'u'));
do $$ declare r record; begin
  for r in select indexname from saved_indexes loop execute 'drop index ' || quote_ident(r.indexname); end loop;
end $$;

insert into messages (id, chat_id, user_id, text, at, updated_at)
select pg_temp.oid(${KIND.message}, n), pg_temp.chat_of(n % ${NC}), pg_temp.oid(${KIND.user}, pg_temp.sender(n)),
       'Message ' || n || ': ' || repeat('lorem ipsum ', 1 + (n % 8)::int),
       pg_temp.msg_at(n), pg_temp.msg_at(n)
from generate_series(1, ${M}) n;

insert into message_files (id, message_id, chat_id, user_id, at, position, url, meta, tag, media_type)
select pg_temp.oid(${KIND.file}, n), pg_temp.oid(${KIND.message}, n), pg_temp.chat_of(n % ${NC}),
       pg_temp.oid(${KIND.user}, pg_temp.sender(n)), pg_temp.msg_at(n), 0,
       'https://cdn.example.com/chats/' || n || '/photo.jpg',
       jsonb_build_object('mediaType', 'image', 'fileName', 'photo' || n || '.jpg', 'fileSize', 50000 + n % 1000, 'duration', null),
       case when n % 40 = 0 then 'exams' else 'others' end, 'image'
from generate_series(20, ${M}, 20) n;

-- Group chats (and the fan-out group, number G + 1).
insert into chats (id, is_group, creator_id, name, category, tags, restricted, allow_public_post,
                   last_message_id, last_message_at, participants_count, created_at, updated_at)
select pg_temp.oid(${KIND.group}, g), true,
       pg_temp.oid(${KIND.user}, case when g = ${l.fanoutGroup} then 1 else pg_temp.member(g, 0) end),
       case when g = ${l.fanoutGroup} then 'Fan-out ' || ${scale.fanout}
            else (${words})[g % ${WORDS.length} + 1] || ' ' || (${words})[(g / ${WORDS.length}) % ${WORDS.length} + 1] || ' ' || g end,
       category,
       case when category = 'Study' then '${STUDY_TAGS}'::jsonb else '[]'::jsonb end,
       g % 10 = 0 and category <> 'Courses' and g <> ${l.fanoutGroup}, true,
       pg_temp.oid(${KIND.message}, pg_temp.last_n(g - 1)), pg_temp.msg_at(pg_temp.last_n(g - 1)),
       case when g = ${l.fanoutGroup} then ${scale.fanout}
            else 5 + (g % ${l.heavyStep} = 0)::int + (g % ${l.lightStep} = 1)::int end,
       pg_temp.group_created(g), pg_temp.group_created(g)
from generate_series(1, ${G + 1}) g, lateral (select (${categories})[g % ${CATEGORIES.length} + 1] as category) c;

-- One-to-one chats (creator, user) as in rulings.md 9; pair_key "<smaller id>:<larger id>".
insert into chats (id, is_group, creator_id, user_id, pair_key, tags, restricted, allow_public_post,
                   last_message_id, last_message_at, participants_count, created_at, updated_at)
select pg_temp.oid(${KIND.oneToOne}, k), false, a, b, least(a, b) || ':' || greatest(a, b), '[]'::jsonb, false, true,
       pg_temp.oid(${KIND.message}, pg_temp.last_n(${G} + k)), pg_temp.msg_at(pg_temp.last_n(${G} + k)), 2,
       pg_temp.t0() - interval '45 days', pg_temp.t0() - interval '45 days'
from generate_series(1, ${oneToOnes}) k,
     lateral (select pg_temp.oid(${KIND.user}, pg_temp.o2o_creator(k))::text as a,
                     pg_temp.oid(${KIND.user}, pg_temp.o2o_user(k))::text as b) ab;

-- Participants: activity_at = coalesce(last_message_at, updated_at) of their chat, is_group copied.
insert into participants (id, chat_id, user_id, is_admin, last_read_at, joined_at, is_group, activity_at)
select pg_temp.oid(${KIND.groupParticipant}, g * 8 + j), c.id, pg_temp.oid(${KIND.user}, u), j = 0,
       case when j % 2 = 0 then greatest(joined, pg_temp.t0() - interval '15 days') else joined end,
       joined, true, coalesce(c.last_message_at, c.updated_at)
from generate_series(1, ${G}) g
join chats c on c.id = pg_temp.oid(${KIND.group}, g)
cross join lateral (
  select j, pg_temp.member(g, j) as u,
         case when j = 4 then pg_temp.t0() - (g % 14) * interval '1 day' else c.created_at end as joined
  from generate_series(0, 4) j
  union all select 5, ${l.heavyUser}, c.created_at where g % ${l.heavyStep} = 0
  union all select 6, ${l.lightUser}, c.created_at where g % ${l.lightStep} = 1
) m;
update participants set last_read_at = pg_temp.t0() - interval '1 day'
where user_id in (pg_temp.oid(${KIND.user}, ${l.heavyUser}), pg_temp.oid(${KIND.user}, ${l.lightUser}));

insert into participants (id, chat_id, user_id, is_admin, last_read_at, joined_at, is_group, activity_at)
select pg_temp.oid(${KIND.fanoutParticipant}, u), c.id, pg_temp.oid(${KIND.user}, u), u = 1,
       pg_temp.t0() - interval '1 day', c.created_at, true, coalesce(c.last_message_at, c.updated_at)
from generate_series(1, ${scale.fanout}) u
join chats c on c.id = pg_temp.oid(${KIND.group}, ${l.fanoutGroup});

insert into participants (id, chat_id, user_id, is_admin, last_read_at, joined_at, is_group, activity_at)
select pg_temp.oid(${KIND.oneToOneParticipant}, k * 2 + side), c.id, case side when 0 then c.creator_id else c.user_id end,
       side = 0, pg_temp.t0() - interval '3 days', c.created_at, false, coalesce(c.last_message_at, c.updated_at)
from generate_series(1, ${oneToOnes}) k
join chats c on c.id = pg_temp.oid(${KIND.oneToOne}, k)
cross join generate_series(0, 1) side;

-- Reels of the groups (explore): half of them within the trending window (7 days).
insert into reels (id, user_id, chat_id, description, tag, video, hashtags, is_anonymous, views, likes, created_at, updated_at)
select pg_temp.oid(${KIND.reel}, r), pg_temp.oid(${KIND.user}, pg_temp.member(g, (r % 5)::int)), pg_temp.oid(${KIND.group}, g),
       'Reel ' || r, (${categories})[g % ${CATEGORIES.length} + 1], 'https://cdn.example.com/reels/' || r || '/video.mp4',
       array['bench'], r % 10 = 0, r % 1000, r % 100, at, at
from generate_series(1, ${G * scale.reelsPerGroup}) r,
     lateral (select (r - 1) / ${scale.reelsPerGroup} + 1 as g,
                     pg_temp.t0() - (r % 14) * interval '1 day' - (r % 86400) * interval '1 second' as at) x;

-- The heavy user's pending join requests (restricted groups it is not in), follows, likes, blocks.
insert into join_requests (id, chat_id, user_id, status, created_at, updated_at)
select pg_temp.oid(${KIND.joinRequest}, g), pg_temp.oid(${KIND.group}, g), pg_temp.oid(${KIND.user}, ${l.heavyUser}),
       'pending', pg_temp.t0() - interval '2 days', pg_temp.t0() - interval '2 days'
from generate_series(10, ${G}, 20) g where g % ${l.heavyStep} <> 0;
insert into follows (follower_id, followee_id)
select pg_temp.oid(${KIND.user}, ${l.heavyUser}), pg_temp.oid(${KIND.user}, u) from generate_series(1, 200) u;
insert into reel_reactions (reel_id, user_id, kind)
select pg_temp.oid(${KIND.reel}, r), pg_temp.oid(${KIND.user}, ${l.heavyUser}), 'like'
from generate_series(50, ${G * scale.reelsPerGroup}, 50) r;
insert into blocks (blocker_id, blocked_id)
select pg_temp.oid(${KIND.user}, ${l.heavyUser}), pg_temp.oid(${KIND.user}, u) from generate_series(${U - 49}, ${U}) u;

-- What the participants triggers keep (they do not fire under session_replication_role = replica).
insert into user_chat_counts (user_id, chats, groups)
select user_id, count(*)::int, (count(*) filter (where is_group))::int from participants group by user_id
on conflict (user_id) do update set chats = excluded.chats, groups = excluded.groups;

do $$ declare r record; begin
  for r in select indexdef from saved_indexes loop execute r.indexdef; end loop;
end $$;
set session_replication_role = origin;
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required');
    process.exit(1);
  }
  const info = await seed(url, scaleFromEnv(), { force: process.env.BENCH_RESEED === '1' });
  console.log(JSON.stringify(info));
}
