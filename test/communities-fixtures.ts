// Fixtures of the communities tests (explore, events, join requests, reels, score): requests
// through the public API, sockets that record what they receive, and a statement counter.
import { expect } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import type { TestApp, TestUser } from './helpers/app.js';

// The request helper and the recording sockets are the messages fixtures' own.
export { api, device, received, type Device } from './helpers/messages-fixtures.js';
import { api, type Device } from './helpers/messages-fixtures.js';

/** The names of the events the device got, but presence (sent whenever anyone connects). */
export const eventNames = (d: Device) => d.events.map((e) => e.event).filter((e) => e !== 'presence');

/** POST /reels; returns the reel. */
export async function postReel(t: TestApp, user: TestUser, body: Record<string, unknown> = {}) {
  const res = await api(t, user, 'POST', '/reels', {
    description: 'A reel',
    tag: 'Party',
    video: 'https://cdn.example.com/reels/video.mp4',
    ...body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().reel;
}

/** Push outbox rows of the user for one event name. */
export function pushes(t: TestApp, userId: string, event: string) {
  return rows<{ event: string; chatId: string | null; title: string; body: string }>(
    t.deps.database.db,
    sql`select event, chat_id as "chatId", title, body from push_outbox
        where user_id = ${userId} and event = ${event} order by id`,
  );
}

/**
 * Records the SQL statements the app sends to the database from now on, at the driver: PGlite's
 * query/exec, postgres.js's unsafe (what drizzle calls for every statement outside a transaction).
 * The background workers' statements (push outbox, pending object deletes), which run whenever a
 * commit wakes them, are left out: only what requests send is counted.
 */
export function countStatements(t: TestApp): { count(): number; statements: string[]; stop(): void } {
  const client: any = (t.deps.database.db as any).$client;
  const statements: string[] = [];
  const names = t.kind === 'pglite' ? ['query', 'exec'] : ['unsafe'];
  const originals = names.map((name) => [name, client[name], Object.hasOwn(client, name)] as const);
  for (const [name, original] of originals) {
    client[name] = function (this: unknown, ...args: unknown[]) {
      const text = String(args[0]);
      if (!/push_outbox|pending_object_deletes/.test(text)) statements.push(text);
      return original.apply(client, args);
    };
  }
  return {
    count: () => statements.length,
    statements,
    stop() {
      for (const [name, original, own] of originals) {
        if (own) client[name] = original;
        else delete client[name];
      }
    },
  };
}

/** The keys of a reel in the spec's explore example (JSON key order carries no meaning). */
export const REEL_KEYS = [
  '_id', 'user', 'chat', 'description', 'tag', 'video', 'hashtags', 'isAnonymous', 'views', 'likes', 'superLikes',
  'shares', 'comments', 'createdAt', 'updatedAt', 'isLiked', 'isSuperLiked', 'isFavorite',
];
