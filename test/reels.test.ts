// Reels (supporting-api.md): POST /reels answers the reel shaped as in the explore example, and
// like / super-like / favorite with their DELETE are idempotent, their counters moving only when a
// reaction row was actually added or removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { newId } from '../src/shared/ids.js';
import { ISO_DATE, OBJECT_ID, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { follow, group, userWithPhoto } from './chats-fixtures.js';
import { api, postReel, REEL_KEYS } from './communities-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const db = () => t.deps.database.db;
const body = { description: 'Pool party', tag: 'Party', video: 'https://cdn.example.com/reels/motivation.mp4' };

async function reelRow(reelId: string) {
  const [row] = await rows<any>(
    db(),
    sql`select user_id as "userId", chat_id as "chatId", video, video_key as "videoKey", hashtags,
               is_anonymous as "isAnonymous", likes, super_likes as "superLikes"
        from reels where id = ${reelId}`,
  );
  return row;
}

async function reactions(reelId: string) {
  return rows<{ userId: string; kind: string }>(
    db(),
    sql`select user_id as "userId", kind from reel_reactions where reel_id = ${reelId} order by user_id, kind`,
  );
}

function react(user: TestUser, method: 'POST' | 'DELETE', reelId: string, kind: string) {
  return api(t, user, method, `/reels/${reelId}/${kind}`);
}

describe('POST /reels', () => {
  it('posts a reel of no chat: 201 {reel} in the explore shape, and its row', async () => {
    const author = await userWithPhoto(t, 'Amy Jackson');
    const res = await api(t, author, 'POST', '/reels', { ...body, hashtags: ['summer', 'pool'] });
    expect(res.statusCode, res.body).toBe(201);
    expect(Object.keys(res.json())).toEqual(['reel']);
    const reel = res.json().reel;
    expect(Object.keys(reel).sort()).toEqual([...REEL_KEYS].sort());
    expect(reel).toEqual({
      _id: expect.stringMatching(OBJECT_ID),
      // Nobody follows themself (rulings.md 18's isFollowed is the viewer's).
      user: { _id: author.id, name: 'Amy Jackson', username: author.username, photo: author.photo, isFollowed: false },
      chat: null,
      description: 'Pool party',
      tag: 'Party',
      video: body.video,
      hashtags: ['summer', 'pool'],
      isAnonymous: false,
      views: 0,
      likes: 0,
      superLikes: 0,
      shares: 0,
      comments: 0,
      createdAt: expect.stringMatching(ISO_DATE),
      updatedAt: reel.createdAt,
      isLiked: false,
      isSuperLiked: false,
      isFavorite: false,
    });
    // Not one of our storage URLs: no storage key kept.
    expect(await reelRow(reel._id)).toEqual({
      userId: author.id, chatId: null, video: body.video, videoKey: null, hashtags: ['summer', 'pool'],
      isAnonymous: false, likes: 0, superLikes: 0,
    });
  });

  it('keeps the storage key of a video uploaded to us; an anonymous reel shows no user', async () => {
    const author = await t.user();
    const key = `chats/${newId()}/1760449037012-5410977621234984-motivation.mp4`;
    const video = t.deps.storage.urlFor(key);
    const reel = await postReel(t, author, { video, isAnonymous: true });
    expect(reel).toMatchObject({ user: null, isAnonymous: true, video });
    expect((await reelRow(reel._id)).videoKey).toBe(key);
  });

  it('posts to a chat the author is a participant of, under the chat’s posting rules', async () => {
    const creator = await t.user();
    const member = await t.user();
    const outsider = await t.user();
    const chat = await group(t, creator, [member]);
    const reel = await postReel(t, member, { chat: chat._id });
    expect(reel.chat).toBe(chat._id);
    expect((await reelRow(reel._id)).chatId).toBe(chat._id);

    const notIn = await api(t, outsider, 'POST', '/reels', { ...body, chat: chat._id });
    expect(notIn.statusCode).toBe(403);
    expect(notIn.json().code).toBe('NOT_A_PARTICIPANT');
    const noChat = await api(t, member, 'POST', '/reels', { ...body, chat: newId() });
    expect(noChat.statusCode).toBe(404);
    expect(noChat.json().code).toBe('CHAT_NOT_FOUND');

    // allowPublicPost false: admins only.
    await db().execute(sql`update chats set allow_public_post = false where id = ${chat._id}`);
    const closed = await api(t, member, 'POST', '/reels', { ...body, chat: chat._id });
    expect(closed.statusCode).toBe(403);
    expect(closed.json().code).toBe('POSTING_NOT_ALLOWED');
    expect((await api(t, creator, 'POST', '/reels', { ...body, chat: chat._id })).statusCode).toBe(201);

    // A pending event participant cannot post (supporting-api.md).
    const created = await api(t, creator, 'POST', '/events', {
      name: 'Gala',
      startsAt: new Date(Date.now() + 3600_000).toISOString(),
      endsAt: new Date(Date.now() + 7200_000).toISOString(),
    });
    const eventChat = created.json().chat._id;
    expect((await api(t, outsider, 'POST', `/chats/${eventChat}/participants`)).statusCode).toBe(201);
    const pending = await api(t, outsider, 'POST', '/reels', { ...body, chat: eventChat });
    expect(pending.statusCode).toBe(403);
    expect(pending.json().code).toBe('POSTING_NOT_ALLOWED');
    const [{ n }] = await rows<{ n: number }>(db(), sql`select count(*)::int as n from reels where user_id = ${outsider.id}`);
    expect(n).toBe(0);
  });

  it('answers 400 naming the field for bad input, 401 without a token', async () => {
    const author = await t.user();
    for (const [payload, field] of [
      [{ ...body, description: 'x'.repeat(2201) }, 'description'],
      [{ ...body, description: undefined }, 'description'],
      [{ ...body, tag: '' }, 'tag'],
      [{ ...body, tag: 'x'.repeat(51) }, 'tag'],
      [{ ...body, video: 'not a url' }, 'video'],
      [{ ...body, video: 'javascript:alert(1)' }, 'video'],
      [{ ...body, video: undefined }, 'video'],
      [{ ...body, hashtags: Array.from({ length: 31 }, (_, i) => `h${i}`) }, 'hashtags'],
      [{ ...body, hashtags: [''] }, 'hashtags.0'],
      [{ ...body, isAnonymous: 'yes' }, 'isAnonymous'],
      [{ ...body, chat: 'abc' }, 'chat'],
      [{ ...body, views: 100 }, 'views'],
    ] as const) {
      const res = await api(t, author, 'POST', '/reels', payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 120)).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
    expect((await api(t, null, 'POST', '/reels', body)).statusCode).toBe(401);
    const [{ n }] = await rows<{ n: number }>(db(), sql`select count(*)::int as n from reels where user_id = ${author.id}`);
    expect(n).toBe(0);
  });
});

describe('reel reactions', () => {
  it('like, super-like and favorite are idempotent both ways; counters follow the rows', async () => {
    const author = await t.user();
    const fan = await t.user();
    const other = await t.user();
    const reel = await postReel(t, author);

    for (let i = 0; i < 2; i++) {
      for (const kind of ['like', 'super-like', 'favorite']) {
        const res = await react(fan, 'POST', reel._id, kind);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ success: true });
      }
    }
    expect((await react(other, 'POST', reel._id, 'like')).statusCode).toBe(200);
    expect(await reactions(reel._id)).toEqual(
      [
        { userId: fan.id, kind: 'favorite' },
        { userId: fan.id, kind: 'like' },
        { userId: fan.id, kind: 'super-like' },
        { userId: other.id, kind: 'like' },
      ].sort((a, b) => (a.userId + a.kind < b.userId + b.kind ? -1 : 1)),
    );
    expect(await reelRow(reel._id)).toMatchObject({ likes: 2, superLikes: 1 });

    for (let i = 0; i < 2; i++) {
      for (const kind of ['like', 'super-like', 'favorite']) {
        expect((await react(fan, 'DELETE', reel._id, kind)).json()).toEqual({ success: true });
      }
    }
    expect(await reactions(reel._id)).toEqual([{ userId: other.id, kind: 'like' }]);
    expect(await reelRow(reel._id)).toMatchObject({ likes: 1, superLikes: 0 });
    // Removing what was never there changes nothing.
    expect((await react(author, 'DELETE', reel._id, 'like')).statusCode).toBe(200);
    expect(await reelRow(reel._id)).toMatchObject({ likes: 1, superLikes: 0 });
  });

  it('the same like sent five times at once counts once; five users count five', async () => {
    const reel = await postReel(t, await t.user());
    const fan = await t.user();
    const same = await Promise.all(Array.from({ length: 5 }, () => react(fan, 'POST', reel._id, 'like')));
    expect(same.every((r) => r.statusCode === 200)).toBe(true);
    expect((await reelRow(reel._id)).likes).toBe(1);
    const fans = await Promise.all(Array.from({ length: 5 }, () => t.user()));
    await Promise.all(fans.map((u) => react(u, 'POST', reel._id, 'like')));
    expect((await reelRow(reel._id)).likes).toBe(6);
    await Promise.all(Array.from({ length: 5 }, () => react(fan, 'DELETE', reel._id, 'like')));
    expect((await reelRow(reel._id)).likes).toBe(5);
  });

  it('the viewer’s reactions show on the reel they see in explore', async () => {
    const creator = await t.user();
    const member = await t.user();
    const fan = await t.user();
    const name = `Reel club ${newId()}`;
    const chat = await group(t, creator, [member], { name });
    const reel = await postReel(t, member, { chat: chat._id });
    await follow(t, fan, member);
    expect((await react(fan, 'POST', reel._id, 'favorite')).statusCode).toBe(200);
    const res = await t.app.inject({ url: `/chats/explore/communities?search=${encodeURIComponent(name)}`, headers: fan.auth });
    const [seen] = res.json().chats[0].reels;
    expect(seen).toMatchObject({ _id: reel._id, isFavorite: true, isLiked: false, user: { _id: member.id, isFollowed: true } });
  });

  it('answers 404 REEL_NOT_FOUND, 400 for a bad id, 404 for an unknown reaction, 401 without a token', async () => {
    const fan = await t.user();
    for (const method of ['POST', 'DELETE'] as const) {
      const missing = await react(fan, method, newId(), 'like');
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('REEL_NOT_FOUND');
      const bad = await react(fan, method, 'nope', 'super-like');
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
    }
    const reel = await postReel(t, await t.user());
    expect((await react(fan, 'POST', reel._id, 'love')).statusCode).toBe(404);
    expect((await api(t, null, 'POST', `/reels/${reel._id}/like`)).statusCode).toBe(401);
    expect(await reactions(reel._id)).toEqual([]);
  });
});
