// The push worker's SQL: a claimed batch costs two statements whatever its size (bench/RESULTS.md
// P3/P6: one statement per outbox row made the worker half of all statements the service sent).
import { rows, sql, textArray, type Db } from '../db/client.js';
import type { PushMessage } from '../shared/effects.js';
import type { OutboxMessage, PushDevice } from './sender.js';

/**
 * The outbox rows of one push to these users (effects.push): one statement, one text whatever
 * their number. Only users with a registered device get a row: a push goes to the user's devices
 * (supporting-api.md "Push notifications"), so a row of a user without one could never be sent and
 * would only be claimed and written again by the worker. Returns the rows written.
 */
export async function insertPushRows(tx: Db, userIds: string[], message: PushMessage): Promise<number> {
  const [written] = await rows<{ n: number }>(
    tx,
    sql`with pushed as (
          insert into push_outbox (user_id, event, chat_id, title, body)
          select u, ${message.event}, ${message.chat ?? null}, ${message.title}, ${message.body}
          from unnest(${textArray(userIds)}) as u
          where exists (select 1 from devices d where d.user_id = u)
          returning 1)
        select count(*)::int as n from pushed`,
  );
  return written.n;
}

export interface ClaimedMessage extends OutboxMessage {
  attempts: number;
  deliveredTokens: string[];
  /** The user's devices as the claim found them, oldest first. */
  devices: PushDevice[];
}

/**
 * Claims up to `batchSize` due rows with FOR UPDATE SKIP LOCKED and leases them (next_attempt_at
 * moved past the lease) in one statement, so two workers never take the same row, and reads the
 * devices of their users in the same statement. One statement is its own transaction: the row
 * locks last until the lease is written.
 */
export function claimBatch(db: Db, batchSize: number, leaseSeconds: number): Promise<ClaimedMessage[]> {
  return rows<ClaimedMessage>(
    db,
    sql`with claimed as (
          update push_outbox set attempts = attempts + 1,
            next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
          where id in (
            select id from push_outbox
            where sent_at is null and failed_at is null and next_attempt_at <= now()
            order by next_attempt_at, id limit ${batchSize}
            for update skip locked)
          returning id, user_id, event, chat_id, title, body, attempts, delivered_tokens)
        select c.id::int as id, c.user_id as "userId", c.event, c.chat_id as "chatId", c.title, c.body,
               c.attempts, c.delivered_tokens as "deliveredTokens",
               coalesce((select json_agg(json_build_object('token', d.token, 'platform', d.platform)
                                         order by d.created_at, d.token)
                         from devices d where d.user_id = c.user_id), '[]'::json) as devices
        from claimed c
        order by c.id`,
  );
}

export type Outcome =
  | { id: number; outcome: 'sent'; delivered: string[] }
  | { id: number; outcome: 'failed'; delivered: string[]; error: string }
  | { id: number; outcome: 'retry'; delivered: string[]; error: string; delaySeconds: number };

/**
 * Writes the outcome of every row of a batch in one statement, and forgets the devices whose
 * tokens FCM called dead in the same statement. sent_at / failed_at / next_attempt_at are set
 * from the statement's now(), after the sends, as when each row was written alone.
 */
export async function recordOutcomes(db: Db, outcomes: Outcome[], deadTokens: string[]): Promise<void> {
  if (outcomes.length === 0 && deadTokens.length === 0) return;
  // A data-modifying WITH runs even though nothing reads it.
  const forget =
    deadTokens.length > 0
      ? sql`with forgotten as (delete from devices where token = any(${textArray(deadTokens)})) `
      : sql``;
  // jsonb_to_recordset: one parameter for the whole batch, read the same by PGlite and postgres.js
  // (text[] columns come from JSON arrays).
  await db.execute(sql`${forget}update push_outbox o set
      delivered_tokens = v.delivered,
      sent_at = case when v.outcome = 'sent' then now() else o.sent_at end,
      failed_at = case when v.outcome = 'failed' then now() else o.failed_at end,
      last_error = coalesce(left(v.error, 500), o.last_error),
      next_attempt_at = case when v.outcome = 'retry' then now() + make_interval(secs => v."delaySeconds")
                             else o.next_attempt_at end
    from jsonb_to_recordset(${JSON.stringify(outcomes)}::jsonb)
      as v(id bigint, outcome text, delivered text[], error text, "delaySeconds" double precision)
    where o.id = v.id`);
}

/**
 * Deletes up to `limit` rows that finished (sent, or given up) more than `hours` ago; returns how
 * many. Rows another sweep holds are skipped, so two nodes sweeping never wait on each other.
 */
export async function deleteFinishedRows(db: Db, hours: number, limit: number): Promise<number> {
  const [deleted] = await rows<{ n: number }>(
    db,
    sql`with gone as (
          delete from push_outbox where id in (
            select id from push_outbox
            where (sent_at is not null or failed_at is not null)
              and coalesce(sent_at, failed_at) < now() - make_interval(hours => ${hours})
            limit ${limit}
            for update skip locked)
          returning 1)
        select count(*)::int as n from gone`,
  );
  return deleted.n;
}
