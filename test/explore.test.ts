// GET /chats/explore/communities (chats-api.txt, rulings.md 16-18): trending order and its
// configuration, filters, pagination, the reels and request fields, the exact shape of the spec
// example, and one SQL statement per request whatever the page size. Every scenario names its
// chats with a fresh token and searches for it, so chats of other tests never match.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { ISO_DATE, OBJECT_ID, settle, startApp, unique, type TestApp, type TestUser } from './helpers/app.js';
import { block, follow, group, postMessage, userWithPhoto } from './chats-fixtures.js';
import { api, countStatements, postReel, REEL_KEYS } from './communities-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;

/** The keys of a chat and of a reel in the spec's explore example (JSON key order carries no meaning). */
const CHAT_KEYS = [
  '_id', 'creator', 'isGroup', 'name', 'allowPublicPost', 'tags', 'participants', 'event', 'photo', 'createdAt',
  'updatedAt', 'restricted', 'reelsCount', 'request', 'reels', 'isJoined', 'areYouAdmin', 'participantsCount',
  // Not in the example, asked for by the route's description ("populate reels and unread messages count").
  'unread',
];

function explore(app: TestApp, user: TestUser, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return app.app.inject({ url: `/chats/explore/communities?${qs}`, headers: user.auth });
}

async function exploreOk(app: TestApp, user: TestUser, query: Record<string, string | number>) {
  const res = await explore(app, user, query);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { chats: any[]; count: number };
}

/** A group chat named `name` by `creator` with `members`; returns its id. */
async function community(creator: TestUser, members: TestUser[], name: string, extra: Record<string, unknown> = {}) {
  return (await group(t, creator, members, { name, ...extra }))._id as string;
}

/** Moves every participant's join of these chats out of the trending window. */
async function joinedLongAgo(chatIds: string[], days = 30) {
  for (const id of chatIds) {
    await db().execute(sql`update participants set joined_at = now() - make_interval(days => ${days}::int) where chat_id = ${id}`);
  }
}

/** Sets the chat's updatedAt (and the participants' activity copy) `hours` hours back. */
async function updatedHoursAgo(chatId: string, hours: number) {
  await db().execute(sql`update chats set updated_at = now() - make_interval(hours => ${hours}::int) where id = ${chatId}`);
  await db().execute(sql`update participants p set activity_at = coalesce(c.last_message_at, c.updated_at)
                         from chats c where c.id = ${chatId} and p.chat_id = c.id`);
}

describe('GET /chats/explore/communities: trending order (rulings.md 17)', () => {
  let viewer: TestUser;
  let token: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    token = unique('trend');
    const creator = await t.user();
    const [m1, m2] = [await t.user(), await t.user()];
    viewer = await t.user();
    for (const key of ['A', 'B', 'C', 'D', 'E', 'F']) {
      ids[key] = await community(creator, key === 'D' ? [m1, m2] : [m1], `${token} ${key}`);
    }
    // Every creation join is older than the window: only what follows counts.
    await joinedLongAgo(Object.values(ids));

    // A: 2 live messages in the window; one 8 days old and one deleted do not count → 2.
    await postMessage(t, creator, ids.A, 'one');
    await postMessage(t, m1, ids.A, 'two');
    const old = await postMessage(t, creator, ids.A, 'old');
    await db().execute(sql`update messages set at = now() - interval '8 days' where id = ${old._id}`);
    const deleted = await postMessage(t, creator, ids.A, 'deleted');
    const del = await api(t, creator, 'DELETE', `/chats/${ids.A}/messages/${deleted._id}`);
    expect(del.statusCode).toBe(200);
    // B: 1 reel in the window (× 3), one 8 days old → 3.
    await postReel(t, creator, { chat: ids.B });
    const oldReel = await postReel(t, creator, { chat: ids.B });
    await db().execute(sql`update reels set created_at = now() - interval '8 days' where id = ${oldReel._id}`);
    // C: one participant joined in the window → 1 (participantsCount 3).
    expect((await api(t, viewer, 'POST', `/chats/${ids.C}/participants`)).statusCode).toBe(201);
    // D: nothing (participantsCount 3); E, F: nothing (2 each). updatedAt: B newest … F oldest.
    for (const [i, key] of ['B', 'A', 'C', 'D', 'E', 'F'].entries()) await updatedHoursAgo(ids[key], i + 1);
  });

  const names = (body: { chats: any[] }) => body.chats.map((c) => c.name.split(' ')[1]);

  it('orders by activity, then participantsCount, then newest updatedAt; count is every match', async () => {
    const body = await exploreOk(t, viewer, { search: token });
    expect(names(body)).toEqual(['B', 'A', 'C', 'D', 'E', 'F']);
    expect(body.count).toBe(6);
    expect(body.chats.map((c) => c.participantsCount)).toEqual([2, 2, 3, 3, 2, 2]);
  });

  it('pages through the same order (rulings.md 5)', async () => {
    const second = await exploreOk(t, viewer, { search: token, limit: 2, page: 2 });
    expect(names(second)).toEqual(['C', 'D']);
    expect(second.count).toBe(6);
    const past = await exploreOk(t, viewer, { search: token, limit: 4, page: 3 });
    expect(past).toEqual({ chats: [], count: 6 });
  });

  it('takes its weights from the configuration', async () => {
    // Messages × 5, reels and joins nothing: A (10) first, then participantsCount, then updatedAt.
    const other = await startApp({ TRENDING_MESSAGE_WEIGHT: '5', TRENDING_REEL_WEIGHT: '0', TRENDING_JOIN_WEIGHT: '0' });
    try {
      const body = await exploreOk(other, viewer, { search: token });
      expect(names(body)).toEqual(['A', 'C', 'D', 'B', 'E', 'F']);
    } finally {
      await other.close();
    }
  });

  it('counts only what happened in the configured window', async () => {
    const local = unique('window');
    const creator = await t.user();
    const member = await t.user();
    const recent = await community(creator, [member], `${local} recent`);
    const older = await community(creator, [member], `${local} older`);
    await joinedLongAgo([recent, older]);
    await postMessage(t, creator, recent, 'now');
    for (const text of ['a', 'b']) {
      const m = await postMessage(t, creator, older, text);
      await db().execute(sql`update messages set at = now() - interval '9 days' where id = ${m._id}`);
    }
    await updatedHoursAgo(recent, 2);
    await updatedHoursAgo(older, 1);
    // 7 days: recent 1, older 0.
    expect(names(await exploreOk(t, viewer, { search: local }))).toEqual(['recent', 'older']);
    // 10 days: older 2, recent 1.
    const wide = await startApp({ TRENDING_WINDOW_DAYS: '10' });
    try {
      expect(names(await exploreOk(wide, viewer, { search: local }))).toEqual(['older', 'recent']);
    } finally {
      await wide.close();
    }
  });
});

describe('GET /chats/explore/communities: what matches (rulings.md 16)', () => {
  it('matches group names case-insensitively, with % and _ taken literally, never one-to-one chats', async () => {
    const token = unique('srch');
    const creator = await t.user();
    const member = await t.user();
    const viewer = await t.user();
    const percent = await community(creator, [member], `${token} 50%_off`);
    await community(creator, [member], `${token} 50xyoff`);
    // A one-to-one chat has no name of its own; its parties' names must not make it match.
    const other = await t.user({ name: `${token} person` });
    await follow(t, creator, other);
    expect((await api(t, creator, 'POST', '/chats', { user: other.id })).statusCode).toBe(201);

    const all = await exploreOk(t, viewer, { search: token.toUpperCase() });
    expect(all.count).toBe(2);
    expect(all.chats.every((c) => c.isGroup)).toBe(true);
    const literal = await exploreOk(t, viewer, { search: '50%_off' });
    expect(literal.chats.map((c) => c._id)).toContain(percent);
    expect(literal.chats.every((c) => c.name.includes('50%_off'))).toBe(true);
    const trimmed = await exploreOk(t, viewer, { search: `  ${token} 50%  ` });
    expect(trimmed.chats.map((c) => c._id)).toEqual([percent]);
  });

  it('filters on the exact category', async () => {
    const token = unique('cat');
    const creator = await t.user();
    const member = await t.user();
    const viewer = await t.user();
    const music = await community(creator, [member], `${token} tunes`, { category: 'Music' });
    const study = await community(creator, [member], `${token} notes`, { category: 'Study' });
    expect((await exploreOk(t, viewer, { search: token, category: 'Music' })).chats.map((c) => c._id)).toEqual([music]);
    expect((await exploreOk(t, viewer, { search: token, category: 'Study' })).chats.map((c) => c._id)).toEqual([study]);
    expect(await exploreOk(t, viewer, { search: token, category: 'music' })).toEqual({ chats: [], count: 0 });
    expect((await exploreOk(t, viewer, { search: token })).count).toBe(2);
  });

  it('leaves out chats whose creator blocked the viewer or was blocked by them; joined chats stay in', async () => {
    const token = unique('blk');
    const viewer = await t.user();
    const [blocker, blocked, friend, member] = [await t.user(), await t.user(), await t.user(), await t.user()];
    const byBlocker = await community(blocker, [member], `${token} one`);
    const byBlocked = await community(blocked, [member], `${token} two`);
    await follow(t, friend, viewer);
    const joined = await community(friend, [viewer], `${token} three`);
    await block(t, blocker, viewer);
    await block(t, viewer, blocked);

    const seen = await exploreOk(t, viewer, { search: token });
    expect(seen.chats.map((c) => c._id)).toEqual([joined]);
    expect(seen.count).toBe(1);
    expect(seen.chats[0]).toMatchObject({ isJoined: true, areYouAdmin: false });
    const stranger = await t.user();
    const all = await exploreOk(t, stranger, { search: token });
    expect(all.chats.map((c) => c._id).sort()).toEqual([byBlocker, byBlocked, joined].sort());
  });

  it('answers 400 for a search under 3 characters after trimming, a missing search, bad paging or reelsLimit', async () => {
    const viewer = await t.user();
    for (const [query, field] of [
      [{ search: '  ab  ' }, 'search'],
      [{ search: 'ab' }, 'search'],
      [{}, 'search'],
      [{ search: 'abc', reelsLimit: 21 }, 'reelsLimit'],
      [{ search: 'abc', reelsLimit: -1 }, 'reelsLimit'],
      [{ search: 'abc', reelsLimit: 'x' }, 'reelsLimit'],
      [{ search: 'abc', limit: 0 }, 'limit'],
      [{ search: 'abc', limit: 101 }, 'limit'],
      [{ search: 'abc', page: 0 }, 'page'],
    ] as const) {
      const res = await explore(t, viewer, query as Record<string, string | number>);
      expect(res.statusCode, JSON.stringify(query)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    const anonymous = await t.app.inject({ url: '/chats/explore/communities?search=abcd' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('is not taken for GET /chats/:id (static segments win; "explore" is no id)', async () => {
    const viewer = await t.user();
    const res = await explore(t, viewer, { search: unique('nothing') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ chats: [], count: 0 });
    const asId = await t.app.inject({ url: '/chats/explore', headers: viewer.auth });
    expect(asId.statusCode).toBe(400);
    expect(asId.json().code).toBe('VALIDATION_FAILED');
  });
});

describe('GET /chats/explore/communities: the chat and its reels (rulings.md 18)', () => {
  it('has exactly the keys and values of the spec example, request included', async () => {
    const token = unique('pool');
    const amy = await userWithPhoto(t, 'Amy Jackson');
    const viewer = await t.user();
    const created = await api(t, amy, 'POST', '/events', {
      name: `Pool Party ${token}`,
      startsAt: new Date(Date.now() + 3600_000).toISOString(),
      endsAt: new Date(Date.now() + 7200_000).toISOString(),
      restricted: true,
    });
    expect(created.statusCode, created.body).toBe(201);
    const { event, chat } = created.json();
    const photo = `https://cdn.example.com/chats/${chat._id}/tree.png`;
    await db().execute(sql`update chats set photo = ${photo} where id = ${chat._id}`);
    const reel = await postReel(t, amy, { chat: chat._id, description: 'Pool party', tag: 'Party' });
    const asked = await api(t, viewer, 'POST', `/chats/${chat._id}/requests`);
    expect(asked.statusCode, asked.body).toBe(201);

    const body = await exploreOk(t, viewer, { search: token });
    expect(Object.keys(body)).toEqual(['chats', 'count']);
    expect(body.count).toBe(1);
    const [item] = body.chats;
    expect(Object.keys(item).sort()).toEqual([...CHAT_KEYS].sort());
    const [row] = await rows<{ createdAt: string; updatedAt: string; lastReadAt: string; participantId: string }>(
      db(),
      sql`select iso(c.created_at) as "createdAt", iso(c.updated_at) as "updatedAt",
                 iso(p.last_read_at) as "lastReadAt", p.id as "participantId"
          from chats c join participants p on p.chat_id = c.id where c.id = ${chat._id}`,
    );
    expect(item).toEqual({
      _id: chat._id,
      creator: { _id: amy.id, name: 'Amy Jackson', username: amy.username, photo: amy.photo },
      isGroup: true,
      name: `Pool Party ${token}`,
      allowPublicPost: true,
      tags: [],
      // The creator of an event chat is accepted (src/events/queries.ts linkEventChat).
      participants: [{ user: amy.id, isAdmin: true, _id: row.participantId, lastReadAt: row.lastReadAt, status: 'accepted' }],
      event: event._id,
      photo,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      restricted: true,
      reelsCount: 1,
      request: { _id: asked.json().request._id, user: viewer.id, chat: chat._id, status: 'pending', createdAt: expect.stringMatching(ISO_DATE) },
      reels: [reel],
      unread: 0,
      isJoined: false,
      areYouAdmin: false,
      participantsCount: 1,
    });
    expect(Object.keys(item.request).sort()).toEqual(['_id', 'chat', 'createdAt', 'status', 'user']);
    expect(Object.keys(item.reels[0]).sort()).toEqual([...REEL_KEYS].sort());
    expect(item.reels[0]).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      user: { _id: amy.id, name: 'Amy Jackson', username: amy.username, photo: amy.photo, isFollowed: false },
      chat: chat._id,
      description: 'Pool party',
      tag: 'Party',
      video: 'https://cdn.example.com/reels/video.mp4',
      hashtags: [],
      isAnonymous: false,
      views: 0,
      likes: 0,
      superLikes: 0,
      shares: 0,
      comments: 0,
      createdAt: expect.stringMatching(ISO_DATE),
      updatedAt: expect.stringMatching(ISO_DATE),
      isLiked: false,
      isSuperLiked: false,
      isFavorite: false,
    });

    // The admin's own view: joined, admin, no request, no photo key when the chat has none.
    await db().execute(sql`update chats set photo = null where id = ${chat._id}`);
    const mine = (await exploreOk(t, amy, { search: token })).chats[0];
    expect(mine).toMatchObject({ isJoined: true, areYouAdmin: true });
    expect(mine).not.toHaveProperty('request');
    expect(mine).not.toHaveProperty('photo');
    // A decided request is no longer shown.
    const decided = await api(t, amy, 'POST', `/chats/${chat._id}/requests/${asked.json().request._id}/status`, { status: 'rejected' });
    expect(decided.statusCode).toBe(200);
    expect((await exploreOk(t, viewer, { search: token })).chats[0]).not.toHaveProperty('request');
  });

  it('shows the viewer’s unread count (rulings.md 12) in the chats they joined, 0 in the others', async () => {
    const token = unique('unread');
    const creator = await t.user();
    const member = await t.user();
    const outsider = await t.user();
    const chatId = await community(creator, [member], `${token} Chat`);
    // The member's own message first: posting also reads the chat up to it.
    await postMessage(t, member, chatId, 'own');
    await postMessage(t, creator, chatId, 'one');
    await postMessage(t, creator, chatId, 'two');
    const deleted = await postMessage(t, creator, chatId, 'deleted');
    expect((await api(t, creator, 'DELETE', `/chats/${chatId}/messages/${deleted._id}`)).statusCode).toBe(200);

    const unreadOf = async (user: TestUser) => (await exploreOk(t, user, { search: token })).chats[0].unread;
    // Two live messages of others after the member's lastReadAt; theirs and the deleted one do not count.
    expect(await unreadOf(member)).toBe(2);
    expect(await unreadOf(outsider)).toBe(0);
    expect((await api(t, member, 'POST', `/chats/${chatId}/read`)).statusCode).toBe(200);
    expect(await unreadOf(member)).toBe(0);
  });

  it('shows the newest reelsLimit reels with the viewer’s reactions, anonymous ones without user, blocked authors left out', async () => {
    const token = unique('reels');
    const creator = await t.user();
    const [followed, author] = [await t.user(), await t.user()];
    const viewer = await t.user();
    const chatId = await community(creator, [followed, author], `${token} clips`);
    await follow(t, viewer, followed);
    const r1 = await postReel(t, creator, { chat: chatId, description: 'r1' });
    const r2 = await postReel(t, followed, { chat: chatId, description: 'r2', hashtags: ['fun', 'pool'] });
    const r3 = await postReel(t, followed, { chat: chatId, description: 'r3', isAnonymous: true });
    const r4 = await postReel(t, author, { chat: chatId, description: 'r4' });
    const r5 = await postReel(t, creator, { chat: chatId, description: 'r5' });
    const r6 = await postReel(t, creator, { chat: chatId, description: 'r6' });
    await block(t, viewer, author);
    for (const [reel, kind] of [[r5, 'like'], [r6, 'super-like'], [r2, 'favorite']] as const) {
      expect((await api(t, viewer, 'POST', `/reels/${reel._id}/${kind}`)).statusCode).toBe(200);
    }

    const [chat] = (await exploreOk(t, viewer, { search: token })).chats;
    expect(chat.reelsCount).toBe(6);
    // Default reelsLimit 5, newest first; r4's author is blocked by the viewer.
    expect(chat.reels.map((r: any) => r.description)).toEqual(['r6', 'r5', 'r3', 'r2', 'r1']);
    const byName = Object.fromEntries(chat.reels.map((r: any) => [r.description, r]));
    expect(byName.r6).toMatchObject({ isSuperLiked: true, superLikes: 1, isLiked: false, isFavorite: false, likes: 0 });
    expect(byName.r6.user).toMatchObject({ _id: creator.id, isFollowed: false });
    expect(byName.r5).toMatchObject({ isLiked: true, likes: 1, isSuperLiked: false });
    expect(byName.r3).toMatchObject({ user: null, isAnonymous: true });
    expect(byName.r2).toMatchObject({ isFavorite: true, hashtags: ['fun', 'pool'], user: { _id: followed.id, isFollowed: true } });
    expect(byName.r1.isLiked).toBe(false);
    expect(r4._id).toMatch(OBJECT_ID);

    expect((await exploreOk(t, viewer, { search: token, reelsLimit: 2 })).chats[0].reels.map((r: any) => r._id)).toEqual([
      r6._id,
      r5._id,
    ]);
    const none = (await exploreOk(t, viewer, { search: token, reelsLimit: 0 })).chats[0];
    expect(none.reels).toEqual([]);
    expect(none.reelsCount).toBe(6);
    const twenty = (await exploreOk(t, viewer, { search: token, reelsLimit: 20 })).chats[0];
    expect(twenty.reels).toHaveLength(5);
    // Another viewer sees r4 and none of these reactions.
    const stranger = await t.user();
    const theirs = (await exploreOk(t, stranger, { search: token, reelsLimit: 20 })).chats[0].reels;
    expect(theirs.map((r: any) => r._id)).toEqual([r6, r5, r4, r3, r2, r1].map((r) => r._id));
    expect(theirs.some((r: any) => r.isLiked || r.isSuperLiked || r.isFavorite)).toBe(false);
  });
});

describe('GET /chats/explore/communities: one statement per request', () => {
  it('runs the same number of SQL statements for a page of 2 chats as for a page of 8 with reels', async () => {
    const token = unique('count');
    const creator = await t.user();
    const member = await t.user();
    const viewer = await t.user();
    for (let i = 0; i < 8; i++) {
      const chatId = await community(creator, [member], `${token} ${i}`, { restricted: i % 2 === 0 });
      await postReel(t, creator, { chat: chatId });
      await postReel(t, member, { chat: chatId, isAnonymous: i % 3 === 0 });
      if (i % 2 === 0) expect((await api(t, viewer, 'POST', `/chats/${chatId}/requests`)).statusCode).toBe(201);
      else expect((await api(t, viewer, 'POST', `/chats/${chatId}/participants`)).statusCode).toBe(201);
      await postMessage(t, creator, chatId, 'hi');
    }

    await settle(300);
    const measure = async (limit: number) => {
      const counter = countStatements(t);
      try {
        const body = await exploreOk(t, viewer, { search: token, limit, reelsLimit: 5 });
        expect(body.chats).toHaveLength(limit);
        expect(body.chats.every((c) => c.reels.length === 2)).toBe(true);
        expect(counter.count(), counter.statements.join('\n----\n')).toBe(1);
        return counter.count();
      } finally {
        counter.stop();
      }
    };
    const small = await measure(2);
    const large = await measure(8);
    expect(large).toBe(small);
  });
});
