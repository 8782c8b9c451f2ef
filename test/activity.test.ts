// The chat-list order after a message (src/db/schema.ts chats.activity_pending): chats of up to
// ACTIVITY_INLINE_MAX participants are reordered in the message's transaction; in larger ones the
// sender's list at once and the others' within ACTIVITY_REFRESH_MS, one rewrite per window however
// many messages, rewritten a few participants per statement; a sweep finishes what a dead node left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { refreshPendingActivity } from '../src/messages/queries.js';
import { nextEvent, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { api, follow, groupChat, send } from './helpers/messages-fixtures.js';
import { multipart, waitFor } from './chats-fixtures.js';

const REFRESH_MS = 300;
let t: TestApp;
beforeAll(async () => {
  // Groups of more than 3 participants take the after-commit path, rewritten 2 per statement.
  t = await startApp({ ACTIVITY_INLINE_MAX: '3', ACTIVITY_REFRESH_MS: String(REFRESH_MS), ACTIVITY_REFRESH_BATCH: '2' });
});
afterAll(() => t.close());

interface Activity {
  pending: boolean;
  lastMessageAt: string;
  activities: string[];
}

async function activity(chatId: string): Promise<Activity> {
  const [row] = await rows<Activity>(
    t.deps.database.db,
    sql`select c.activity_pending as pending, iso(c.last_message_at) as "lastMessageAt",
          (select json_agg(iso(p.activity_at)) from participants p where p.chat_id = c.id) as activities
        from chats c where c.id = ${chatId}`,
  );
  return row;
}

async function firstChat(user: TestUser): Promise<string> {
  const res = await api(t, user, 'GET', '/chats?limit=1');
  expect(res.statusCode).toBe(200);
  return res.json().chats[0]._id;
}

async function users(n: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: n }, () => t.user()));
}

describe('chat list order after a message', () => {
  it('small chat: every participant is reordered in the transaction, nothing left pending', async () => {
    const [a, b, c] = await users(3);
    const chat = await groupChat(t, a, [b]);
    const other = await groupChat(t, a, [c]);
    const message = await send(t, b, chat.id, { text: 'hi' });

    const state = await activity(chat.id);
    expect(state.pending).toBe(false);
    expect(state.lastMessageAt).toBe(message.at);
    expect(state.activities).toEqual([message.at, message.at]);
    // The other chat was created later, but the message moves this one to the top for both.
    expect(other.id).not.toBe(chat.id);
    expect(await firstChat(a)).toBe(chat.id);
    expect(await firstChat(b)).toBe(chat.id);
  });

  it('large chat: the event at once, the sender first at once, the others within the window', async () => {
    const [a, b, c, d, e] = await users(5);
    const chat = await groupChat(t, a, [b, c, d]);
    // Its creation was flagged too (4 participants): let that rewrite pass first, or the message
    // would join a window that opened before it (CI caught one at 228 ms).
    await waitFor(async () => (await activity(chat.id)).pending === false, REFRESH_MS + 3000);
    await groupChat(t, a, [e]); // newer: on top of a's list until the rewrite
    await groupChat(t, b, [e]); // newer: on top of b's list until the message
    const socket = await t.socket(c);
    const got = nextEvent(socket, 'message-created');
    const sentAt = Date.now();
    const message = await send(t, b, chat.id, { text: 'to many' });
    expect((await got).message._id).toBe(message._id);

    // In the message's statement: the sender's order and read mark; the chat flagged.
    const [sender] = await rows<{ lastReadAt: string; activityAt: string }>(
      t.deps.database.db,
      sql`select iso(last_read_at) as "lastReadAt", iso(activity_at) as "activityAt"
          from participants where chat_id = ${chat.id} and user_id = ${b.id}`,
    );
    expect(sender.activityAt).toBe(message.at);
    expect(sender.lastReadAt >= message.at).toBe(true);
    expect(await firstChat(b)).toBe(chat.id);

    // The others follow within the window (plus a statement), and the flag is cleared.
    await waitFor(async () => (await activity(chat.id)).pending === false, REFRESH_MS + 3000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(REFRESH_MS - 50);
    expect((await activity(chat.id)).activities).toEqual(Array(4).fill(message.at));
    expect(await firstChat(a)).toBe(chat.id);
  });

  it('messages racing into a large chat leave every copy at the newest message', async () => {
    const members = await users(6);
    const chat = await groupChat(t, members[0], members.slice(1));
    const sent = await Promise.all(members.map((m, i) => send(t, m, chat.id, { text: `race ${i}` })));
    const newest = sent.map((m) => m.at).sort().at(-1)!;
    await waitFor(async () => (await activity(chat.id)).pending === false, REFRESH_MS + 3000);
    const state = await activity(chat.id);
    expect(state.lastMessageAt).toBe(newest);
    expect(state.activities).toEqual(Array(6).fill(newest));
  });

  it('the sweep finishes a chat whose node died between the commit and the refresh', async () => {
    const [a, b, c, d, e] = await users(5);
    const chat = await groupChat(t, a, [b, c, d]);
    const older = await groupChat(t, a, [e]);
    const message = await send(t, b, chat.id, { text: 'before the crash' });
    await waitFor(async () => (await activity(chat.id)).pending === false, REFRESH_MS + 3000);
    expect(await firstChat(a)).toBe(chat.id);
    // What a node dying right after the commit of a message leaves: the flag set and the copies
    // of the participants still older than the chat's activity (the direct writes bypass the
    // chat-list cache, hence the invalidation).
    await t.deps.database.db.execute(sql`update chats set activity_pending = true where id = ${chat.id}`);
    await t.deps.database.db.execute(
      sql`update participants set activity_at = activity_at - interval '1 hour' where chat_id = ${chat.id}`,
    );
    t.deps.chatLists.invalidate([a.id]);
    expect(await firstChat(a)).toBe(older.id);

    // A pass rewrites what was flagged at the pass before it too.
    await t.deps.activity.sweep();
    expect(await t.deps.activity.sweep()).toBeGreaterThanOrEqual(1);
    const state = await activity(chat.id);
    expect(state.pending).toBe(false);
    expect(state.activities).toEqual(Array(4).fill(message.at));
    expect(await firstChat(a)).toBe(chat.id);
  });

  it('the periodic sweep leaves a chat flagged since its last run (due on the node that flagged it), and takes it at the next', async () => {
    const [a, b, c, d] = await users(4);
    const chat = await groupChat(t, a, [b, c, d]);
    const message = await send(t, b, chat.id, { text: 'flagged on another node' });
    await waitFor(async () => (await activity(chat.id)).pending === false, REFRESH_MS + 3000);
    // As a message on another node leaves it: flagged, the copies old, no rewrite due here.
    await t.deps.database.db.execute(sql`update chats set activity_pending = true where id = ${chat.id}`);
    await t.deps.database.db.execute(
      sql`update participants set activity_at = activity_at - interval '1 hour' where chat_id = ${chat.id}`,
    );

    await t.deps.activity.sweep();
    expect((await activity(chat.id)).pending).toBe(true);
    expect(await t.deps.activity.sweep()).toBeGreaterThanOrEqual(1);
    const state = await activity(chat.id);
    expect(state.pending).toBe(false);
    expect(state.activities).toEqual(Array(4).fill(message.at));
  });
});

// Every other write that moves a large chat's activity takes the same after-commit path: the
// request rewrites no other participant's copy (a slow window shows it), and the copies follow.
describe('chat list order after other writes to a large chat', () => {
  const SLOW_MS = 2500;
  let slow: TestApp;
  beforeAll(async () => {
    // The first app shares the database: its sweep would rewrite the flagged chats early.
    await t.deps.activity.stop();
    slow = await startApp({ ACTIVITY_INLINE_MAX: '3', ACTIVITY_REFRESH_MS: String(SLOW_MS), ACTIVITY_REFRESH_BATCH: '2' });
  });
  afterAll(() => slow.close());

  async function state(chatId: string): Promise<Activity & { updatedAt: string }> {
    const [row] = await rows<Activity & { updatedAt: string }>(
      slow.deps.database.db,
      sql`select c.activity_pending as pending, iso(c.last_message_at) as "lastMessageAt", iso(c.updated_at) as "updatedAt",
            (select json_agg(iso(p.activity_at)) from participants p where p.chat_id = c.id) as activities
          from chats c where c.id = ${chatId}`,
    );
    return row;
  }

  /** PUT /chats/:id takes multipart/form-data (the photo). */
  function rename(user: TestUser, chatId: string, name: string) {
    const form = multipart({ name });
    return slow.app.inject({ method: 'PUT', url: `/chats/${chatId}`, headers: { ...user.auth, ...form.headers }, payload: form.payload });
  }

  async function settledLarge(creator: TestUser, members: TestUser[]) {
    const chat = await groupChat(slow, creator, members);
    await waitFor(async () => (await state(chat.id)).pending === false, SLOW_MS + 3000);
    return chat;
  }

  it('deleting the last message, a rename, a join: flagged in the request, rewritten after it', async () => {
    const [a, b, c, d, e] = await Promise.all(Array.from({ length: 5 }, () => slow.user()));
    const withMessages = await settledLarge(a, [b, c, d]);
    const first = await send(slow, b, withMessages.id, { text: 'first' });
    const last = await send(slow, c, withMessages.id, { text: 'last' });
    await waitFor(async () => (await state(withMessages.id)).pending === false, SLOW_MS + 3000);
    const quiet = await settledLarge(a, [b, c, d]); // no messages: its activity is updated_at

    const socket = await slow.socket(d);
    const deleted = nextEvent(socket, 'message-deleted');
    const removed = await api(slow, c, 'DELETE', `/chats/${withMessages.id}/messages/${last._id}`);
    expect(removed.statusCode, removed.body).toBeLessThan(300);
    const renamed = await rename(a, quiet.id, 'renamed');
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect((await deleted).message).toBe(last._id);

    // Right after the requests: the chats flagged, no copy moved yet.
    const afterDelete = await state(withMessages.id);
    expect(afterDelete).toMatchObject({ pending: true, lastMessageAt: first.at });
    expect(afterDelete.activities).toEqual(Array(4).fill(last.at));
    const afterRename = await state(quiet.id);
    expect(afterRename.pending).toBe(true);
    expect(afterRename.activities.every((at) => at < afterRename.updatedAt)).toBe(true);

    // A member joining (added by the admin) moves updated_at again: still one pending rewrite.
    await follow(slow, a, e);
    const added = await api(slow, a, 'POST', `/chats/${quiet.id}/participants/multiple`, { participants: [e.id] });
    expect(added.statusCode, added.body).toBeLessThan(300);

    await waitFor(
      async () => (await state(withMessages.id)).pending === false && (await state(quiet.id)).pending === false,
      SLOW_MS + 3000,
    );
    expect((await state(withMessages.id)).activities).toEqual(Array(4).fill(first.at));
    const final = await state(quiet.id);
    expect(final.activities).toEqual(Array(5).fill(final.updatedAt));
  });

  it('a small chat is still rewritten in the request', async () => {
    const [a, b] = await Promise.all([slow.user(), slow.user()]);
    const chat = await groupChat(slow, a, [b]);
    const renamed = await rename(a, chat.id, 'renamed small');
    expect(renamed.statusCode, renamed.body).toBe(200);
    const now = await state(chat.id);
    expect(now.pending).toBe(false);
    expect(now.activities).toEqual(Array(2).fill(now.updatedAt));
  });
  // The rewrite is one statement per batch (queries.ts refreshPendingActivity), here 2 participants
  // each; the chat's activity can move between two of them. The window is slow, so the rewrites
  // below are the only ones until it passes.
  describe('a rewrite spread over batches', () => {
    const pause = async () => {};

    it('a message between two batches leaves the flag set; the next rewrite brings every copy to it', async () => {
      const members = await Promise.all(Array.from({ length: 5 }, () => slow.user()));
      const chat = await settledLarge(members[0], members.slice(1));
      const first = await send(slow, members[1], chat.id, { text: 'first' });
      let pauses = 0;
      let second: Awaited<ReturnType<typeof send>> | undefined;
      await refreshPendingActivity(slow.deps.database.db, chat.id, {
        size: 2,
        between: async () => {
          if (pauses++ === 0) second = await send(slow, members[2], chat.id, { text: 'second' });
        },
      });
      expect(pauses).toBe(2); // 5 participants, 2 per statement: three statements
      const after = await state(chat.id);
      expect(after).toMatchObject({ pending: true, lastMessageAt: second!.at });
      expect(after.activities.filter((at) => at === first.at).length).toBeGreaterThanOrEqual(1);

      const moved = await refreshPendingActivity(slow.deps.database.db, chat.id, { size: 2, between: pause });
      expect(moved.length).toBeGreaterThanOrEqual(1);
      const done = await state(chat.id);
      expect(done.pending).toBe(false);
      expect(done.activities).toEqual(Array(5).fill(second!.at));
    });

    it('a message sent and deleted between two batches: the flag stays while a copy still shows it', async () => {
      const members = await Promise.all(Array.from({ length: 5 }, () => slow.user()));
      const chat = await settledLarge(members[0], members.slice(1));
      const first = await send(slow, members[1], chat.id, { text: 'kept' });
      // The participant the first batch rewrites first (user_id order) sends the message that is
      // deleted again: the later batches see the chat's activity back where the first one saw it.
      const early = [...members].sort((x, y) => (x.id < y.id ? -1 : 1))[0];
      let pauses = 0;
      await refreshPendingActivity(slow.deps.database.db, chat.id, {
        size: 2,
        between: async () => {
          if (pauses++ > 0) return;
          const gone = await send(slow, early, chat.id, { text: 'deleted at once' });
          const removed = await api(slow, early, 'DELETE', `/chats/${chat.id}/messages/${gone._id}`);
          expect(removed.statusCode, removed.body).toBeLessThan(300);
        },
      });
      const after = await state(chat.id);
      expect(after.lastMessageAt).toBe(first.at);
      expect(after.pending).toBe(true);
      expect(after.activities.filter((at) => at !== first.at)).toHaveLength(1);

      await refreshPendingActivity(slow.deps.database.db, chat.id, { size: 2, between: pause });
      const done = await state(chat.id);
      expect(done.pending).toBe(false);
      expect(done.activities).toEqual(Array(5).fill(first.at));
    });
  });
});
