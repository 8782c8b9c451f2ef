// A large chat's audience (src/messages/members.ts): a message into a chat of more than
// ACTIVITY_INLINE_MAX participants goes to the member ids the node keeps under the chat's
// members_version, which the database moves with every change of the chat's participants rows
// (drizzle/0005_members_version.sql), cascades included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { ChatMembers } from '../src/messages/members.js';
import { nextEvent, record, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { api, follow, groupChat, send } from './helpers/messages-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  // Groups of more than 3 participants are large.
  t = await startApp({ ACTIVITY_INLINE_MAX: '3' });
});
afterAll(() => t.close());

const users = (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => t.user()));

async function version(chatId: string): Promise<number> {
  const [row] = await rows<{ v: number }>(t.deps.database.db, sql`select members_version as v from chats where id = ${chatId}`);
  return row.v;
}

async function participantId(chatId: string, userId: string): Promise<string> {
  const [row] = await rows<{ id: string }>(
    t.deps.database.db,
    sql`select id from participants where chat_id = ${chatId} and user_id = ${userId}`,
  );
  return row.id;
}

async function add(admin: TestUser, chatId: string, member: TestUser) {
  await follow(t, admin, member);
  const res = await api(t, admin, 'POST', `/chats/${chatId}/participants/multiple`, { participants: [member.id] });
  expect(res.statusCode, res.body).toBe(200);
}

async function remove(admin: TestUser, chatId: string, member: TestUser) {
  const res = await api(t, admin, 'DELETE', `/chats/${chatId}/participants/${await participantId(chatId, member.id)}`);
  expect(res.statusCode, res.body).toBe(200);
}

describe('chats.members_version', () => {
  it('moves with participants added and removed, cascades included, and with nothing else', async () => {
    const [a, b, c, d] = await users(4);
    const chat = await groupChat(t, a, [b, c]);
    const other = await groupChat(t, a, [c]);
    const created = await version(chat.id);

    await send(t, b, chat.id, { text: 'no membership change' });
    await api(t, a, 'POST', `/chats/${chat.id}/read`);
    expect(await version(chat.id)).toBe(created);

    await add(a, chat.id, d);
    const added = await version(chat.id);
    expect(added).toBeGreaterThan(created);
    await remove(a, chat.id, d);
    const removed = await version(chat.id);
    expect(removed).toBeGreaterThan(added);

    // A user deleted with their participants rows (ON DELETE CASCADE): each of their chats moves.
    const otherBefore = await version(other.id);
    await t.deps.database.db.execute(sql`delete from users where id = ${c.id}`);
    expect(await version(chat.id)).toBeGreaterThan(removed);
    expect(await version(other.id)).toBeGreaterThan(otherBefore);
  });
});

describe('a message into a large chat', () => {
  it('reaches a member added since the last message, and not one removed since', async () => {
    const [a, b, c, d, e] = await users(5);
    const chat = await groupChat(t, a, [b, c, d]);
    const dSocket = await t.socket(d);
    const eSocket = await t.socket(e);
    const first = nextEvent(dSocket, 'message-created');
    await send(t, b, chat.id, { text: 'before the changes' });
    expect((await first).message.text).toBe('before the changes');

    await add(a, chat.id, e);
    await remove(a, chat.id, d);
    const toD = record(dSocket, 'message-created');
    const toE = nextEvent(eSocket, 'message-created');
    await send(t, b, chat.id, { text: 'after the changes' });
    expect((await toE).message.text).toBe('after the changes');
    await settle();
    expect(toD).toEqual([]);
  });

  it('reads the member ids once per membership version', async () => {
    const [a, b, c, d, e] = await users(5);
    const chat = await groupChat(t, a, [b, c, d]);
    const cSocket = await t.socket(c);
    const filled = nextEvent(cSocket, 'message-created');
    await send(t, b, chat.id, { text: 'fills the cache' });
    expect((await filled).message.text).toBe('fills the cache');

    const reads = t.deps.chatMembers.reads;
    const got = nextEvent(cSocket, 'message-created');
    await send(t, d, chat.id, { text: 'from the cache' });
    expect((await got).message.text).toBe('from the cache');
    expect(t.deps.chatMembers.reads).toBe(reads);

    await add(a, chat.id, e);
    const eSocket = await t.socket(e);
    const toE = nextEvent(eSocket, 'message-created');
    await send(t, b, chat.id, { text: 'read again' });
    expect((await toE).message.text).toBe('read again');
    expect(t.deps.chatMembers.reads).toBe(reads + 1);
  });

  it('a small chat reads its members with the posting rules, and caches nothing', async () => {
    const [a, b] = await users(2);
    const chat = await groupChat(t, a, [b]);
    const cached = t.deps.chatMembers.size;
    const reads = t.deps.chatMembers.reads;
    await send(t, b, chat.id, { text: 'small' });
    expect(t.deps.chatMembers.reads).toBe(reads);
    expect(t.deps.chatMembers.size).toBe(cached);
  });
});

describe('typing in a large chat', () => {
  it('reaches the members of the moment, from one read per membership version', async () => {
    const [a, b, c, d, e, stranger] = await users(6);
    const chat = await groupChat(t, a, [b, c, d]);
    const [aSocket, cSocket, dSocket, eSocket, strangerSocket] = await Promise.all(
      [a, c, d, e, stranger].map((u) => t.socket(u)),
    );
    // Each relay is awaited at every member's socket before the next step.
    const relayed = async (from: typeof aSocket, to: (typeof aSocket)[]) => {
      const got = Promise.all(to.map((socket) => nextEvent(socket, 'typing')));
      from.emit('typing', { chat: chat.id });
      return got;
    };
    expect(await relayed(aSocket, [cSocket, dSocket])).toEqual([{ chat: chat.id, user: a.id }, { chat: chat.id, user: a.id }]);
    const reads = t.deps.chatMembers.reads;
    await relayed(aSocket, [cSocket, dSocket]);
    expect(t.deps.chatMembers.reads).toBe(reads);

    await add(a, chat.id, e);
    await remove(a, chat.id, d);
    const toD = record(dSocket, 'typing');
    const toStranger = record(strangerSocket, 'typing');
    expect(await relayed(aSocket, [cSocket, eSocket])).toEqual([{ chat: chat.id, user: a.id }, { chat: chat.id, user: a.id }]);
    expect(t.deps.chatMembers.reads).toBe(reads + 1);
    // Neither the removed member's nor a stranger's typing reaches the chat.
    const toA = record(aSocket, 'typing');
    dSocket.emit('typing', { chat: chat.id });
    strangerSocket.emit('typing', { chat: chat.id });
    await settle();
    expect(toD).toEqual([]);
    expect(toStranger).toEqual([]);
    expect(toA).toEqual([]);
  });
});

describe('ChatMembers', () => {
  it('keeps the most recently used chats up to its capacity in member ids', async () => {
    const [a, b, c, d] = await users(4);
    const chats = [await groupChat(t, a, [b, c, d]), await groupChat(t, a, [b, c]), await groupChat(t, a, [b])];
    const members = new ChatMembers(7); // 4 + 3 ids fit, 4 + 3 + 2 do not
    const db = t.deps.database.db;
    const of = async (i: number) => (await members.of(db, chats[i].id, await version(chats[i].id))).sort();
    expect(await of(0)).toEqual([a.id, b.id, c.id, d.id].sort());
    expect(await of(1)).toEqual([a.id, b.id, c.id].sort());
    expect(await of(0)).toHaveLength(4); // used again: now the most recent
    expect(members.reads).toBe(2);
    expect(await of(2)).toEqual([a.id, b.id].sort()); // over capacity: chat 1 goes
    expect(members.size).toBe(2);
    await of(0);
    expect(members.reads).toBe(3);
    await of(1);
    expect(members.reads).toBe(4);

    // A chat larger than the whole capacity is read every time and evicts nothing.
    const small = new ChatMembers(3);
    await small.of(db, chats[2].id, await version(chats[2].id));
    await small.of(db, chats[0].id, await version(chats[0].id));
    await small.of(db, chats[0].id, await version(chats[0].id));
    expect(small.reads).toBe(3);
    expect(small.size).toBe(1);
  });
});
