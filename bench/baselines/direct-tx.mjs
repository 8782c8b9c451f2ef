// P3's baseline: the SQL transaction of POST /chats/:id/messages (src/messages/service.ts
// postMessage, statements of src/messages/queries.ts) run directly on postgres.js, the same
// driver and pool size as the service, by CONCURRENCY workers for SECONDS; prints {tx, seconds}.
// Same statements, same protocol (prepared statements, as src/db/client.ts sends them), same
// (chat, sender) pairs; what it leaves out is everything the service adds: HTTP, validation, JWT,
// the presence look-up in Redis, the socket emit and the push worker.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
// The built service (the bench builds it before any scenario runs).
import { postgresTarget, renderPlain } from '../../dist/src/db/client.js';
import { liveMessageText } from '../../dist/src/messages/queries.js';

const pairs = JSON.parse(readFileSync(process.env.PAIRS_FILE, 'utf8'));
const seconds = Number(process.env.SECONDS ?? 5);
const concurrency = Number(process.env.CONCURRENCY ?? 10);
// DATABASE_URL read as the service reads it (a Unix socket with `?host=<dir>`).
const target = postgresTarget(process.env.DATABASE_URL);
const sql = postgres(target.url, {
  path: target.path,
  max: Number(process.env.POOL ?? 10),
  onnotice: () => {},
  connection: { TimeZone: 'UTC', application_name: 'bench-direct-tx' },
});

const processPart = randomBytes(5).toString('hex');
let counter = 0;
const newId = () =>
  Math.floor(Date.now() / 1000).toString(16).padStart(8, '0') + processPart + (++counter & 0xffffff).toString(16).padStart(6, '0');

// BEGIN goes out with the first statement, and the push rows with COMMIT, as the service's driver
// layer sends them (src/db/client.ts pipelinedBegin, sendAlongCommit): the same round trips on
// both sides. `work(tx, along)` hands along() its last statements, whose answers nothing reads.
async function begin(work) {
  const tx = await sql.reserve();
  try {
    const begun = tx.unsafe('begin').execute();
    begun.catch(() => {});
    const pending = [];
    const along = (statement) => {
      statement.catch(() => {});
      pending.push(statement);
    };
    let result;
    try {
      result = await work(tx, along);
      await begun;
    } catch (error) {
      await tx.unsafe('rollback').catch(() => {});
      throw error;
    }
    const committed = tx.unsafe('commit').execute();
    try {
      await Promise.all(pending);
    } catch (error) {
      await committed.catch(() => {});
      throw error;
    }
    await committed;
    return result;
  } finally {
    tx.release();
  }
}

// The new message written out in the statement, exactly the service's text (liveMessageText).
const LIVE_MESSAGE_TEXT = renderPlain(liveMessageText).text;

async function postMessage(chatId, userId, text) {
  return begin(async (tx, along) => {
    const [access] = await tx.unsafe(
      `select c.is_group as "isGroup", c.name, c.allow_public_post as "allowPublicPost",
          (not c.is_group and exists (
            select 1 from blocks b
            where (b.blocker_id = c.creator_id and b.blocked_id = c.user_id)
               or (b.blocker_id = c.user_id and b.blocked_id = c.creator_id))) as blocked,
          case when p.id is null then null
               else json_build_object('isAdmin', p.is_admin, 'status', p.status) end as participant,
          case when c.participants_count <= $3
               then (select coalesce(json_agg(m.user_id), '[]'::json) from participants m where m.chat_id = c.id)
          end as "memberIds",
          c.members_version as "membersVersion"
        from chats c
        left join participants p on p.chat_id = c.id and p.user_id = $1
        where c.id = $2
        for update of c`,
      [userId, chatId, 64],
      { prepare: true },
    );
    if (!access?.participant) throw new Error('not a participant');
    const id = newId();
    const [{ message }] = await tx.unsafe(
      `with m as (
          insert into messages (id, chat_id, user_id, text, at, updated_at)
          values ($1, $2, $3, $4, clock_timestamp(), clock_timestamp())
          returning *),
        c as (
          update chats set last_message_id = $1, last_message_at = m.at,
                 activity_pending = chats.participants_count > $5
          from m
          where chats.id = $2 and (chats.last_message_at is null or chats.last_message_at <= m.at)
          returning chats.activity_pending as pending, coalesce(chats.last_message_at, chats.updated_at) as activity),
        p as (
          update participants p set
            last_read_at = case when p.user_id = $3 then greatest(p.last_read_at, m.at) else p.last_read_at end,
            activity_at = case when c.pending is false or p.user_id = $3 then coalesce(c.activity, p.activity_at)
                               else p.activity_at end
          from m left join c on true
          where p.chat_id = $2
            and (p.user_id = $3 or (c.pending is false and p.activity_at is distinct from c.activity)))
        select iso(m.at) as at, coalesce((select pending from c), false) as "activityPending",
               (${LIVE_MESSAGE_TEXT})::json as message
        from m`,
      [id, chatId, userId, text, 64],
      { prepare: true },
    );
    // Nobody is online in P3: every other participant with a device gets a push row (half the
    // seed's users have one; src/shared/effects.ts, src/push/queries.ts insertPushRows).
    const others = access.memberIds.filter((u) => u !== userId);
    if (others.length > 0) {
      along(tx.unsafe(
        `with pushed as (
            insert into push_outbox (user_id, event, chat_id, title, body)
            select u, $1, $2, $3, $4
            from unnest($5::text[]) as u
            where exists (select 1 from devices d where d.user_id = u)
            returning 1)
          select count(*)::int as n from pushed`,
        ['message-created', chatId, access.name ?? message.user.name, `${message.user.name}: ${text}`,
          '{' + others.map((o) => `"${o}"`).join(',') + '}'],
        { prepare: true },
      ).execute());
    }
    return message;
  });
}

await sql`select 1`;
let done = 0;
let errors = 0;
let next = 0;
const deadline = performance.now() + seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const pair = pairs[next++ % pairs.length];
      try {
        await postMessage(pair.chat, pair.user, `bench message ${next}`);
        done++;
      } catch (error) {
        errors++;
        if (errors === 1) console.error(error);
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
await sql.end();
console.log(JSON.stringify({ tx: done, errors, seconds: elapsed, rps: done / elapsed }));
