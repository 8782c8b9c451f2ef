// GET /chats, GET /chats/:id, POST /chats/:id/read: chats-api.txt and rulings.md 5, 8-15, 28.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../src/db/client.js';
import { ISO_DATE, nextEvent, OBJECT_ID, record, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import {
  connection,
  createChat,
  dbRows,
  follow,
  group,
  listChats,
  oneToOne,
  postMessage,
  socketIdOf,
  STUDY_TAGS,
  userWithPhoto,
} from './chats-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const brief = (u: TestUser & { photo?: string }) => ({
  _id: u.id,
  name: u.name,
  username: u.username,
  ...(u.photo ? { photo: u.photo } : {}),
});

/** The keys of a GET /chats item in the spec example (plus the chat fields the example leaves out). */
const VIEWER_KEYS = [
  '_id', 'creator', 'user', 'participants', 'createdAt', 'updatedAt', 'tags', 'name', 'unread', 'lastMessage',
  'isJoined', 'areYouAdmin', 'participantsCount', 'isGroup', 'restricted', 'allowPublicPost',
];

describe('GET /chats', () => {
  it('shows a one-to-one chat from both sides in the spec shape (rulings.md 9)', async () => {
    const max = await userWithPhoto(t, 'Max_R');
    const maneesha = await userWithPhoto(t, 'ManeeshaGKrishnan');
    const doc = await oneToOne(t, max, maneesha);
    const online = await t.socket(maneesha);
    await settle(100);

    const mine = await listChats(t, max);
    expect(Object.keys(mine).sort()).toEqual(['chats', 'count']);
    expect(mine.count).toBe(1);
    const chat = mine.chats[0];
    expect(Object.keys(chat).sort()).toEqual([...VIEWER_KEYS, 'photo', 'category'].sort());
    expect(chat).toEqual({
      _id: doc._id,
      creator: brief(max),
      user: { ...brief(maneesha), isOnline: true },
      participants: [
        {
          user: { ...brief(max), isOnline: false },
          isAdmin: true,
          _id: expect.stringMatching(OBJECT_ID),
          lastReadAt: expect.stringMatching(ISO_DATE),
        },
        { user: { ...brief(maneesha), isOnline: true }, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
      ],
      createdAt: doc.createdAt,
      updatedAt: doc.updatedAt,
      tags: [],
      // As in the spec example: a one-to-one chat shows category Study, without its tags (rulings.md 14).
      category: 'Study',
      // The other party's name and photo.
      name: 'ManeeshaGKrishnan',
      photo: maneesha.photo,
      unread: 0,
      lastMessage: null,
      isJoined: true,
      areYouAdmin: true,
      participantsCount: 2,
      isGroup: false,
      restricted: false,
      allowPublicPost: true,
    });

    const theirs = (await listChats(t, maneesha)).chats[0];
    expect(theirs).toMatchObject({
      _id: doc._id,
      creator: brief(max),
      user: { ...brief(maneesha), isOnline: true },
      name: 'Max_R',
      photo: max.photo,
      areYouAdmin: false,
      isJoined: true,
    });
    online.disconnect();
  });

  it('shows a group chat with its category, tags, lastMessage and unread (rulings.md 11, 12)', async () => {
    const neha = await t.user({ name: 'Neha Sharma' });
    const max = await t.user();
    const doc = await group(t, neha, [max], { name: 'Future Scientists' });
    await postMessage(t, max, doc._id, 'mine does not count');
    await postMessage(t, neha, doc._id, 'one');
    const last = await postMessage(t, neha, doc._id, 'two');

    const { chats } = await listChats(t, max);
    const chat = chats[0];
    expect(Object.keys(chat).sort()).toEqual([...VIEWER_KEYS.filter((k) => k !== 'user'), 'category'].sort());
    expect(chat).toMatchObject({
      _id: doc._id,
      creator: brief(neha),
      name: 'Future Scientists',
      category: 'Study',
      tags: STUDY_TAGS,
      unread: 2,
      areYouAdmin: false,
      isJoined: true,
      participantsCount: 2,
      isGroup: true,
    });
    expect(chat.lastMessage).toEqual(last);
    expect(chat.lastMessage).toMatchObject({
      _id: expect.stringMatching(OBJECT_ID),
      user: brief(neha),
      chat: doc._id,
      files: [],
      at: expect.stringMatching(ISO_DATE),
    });
    // Own messages are never unread (and posting marks the sender's read point, src/messages).
    const forNeha = (await listChats(t, neha)).chats[0];
    expect(forNeha).toMatchObject({ unread: 0, areYouAdmin: true });
    // Not the viewer's: Max's message after Neha's read point would count for her.
    await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/read`, headers: max.auth });
    await postMessage(t, max, doc._id, 'three');
    expect((await listChats(t, neha)).chats[0].unread).toBe(1);
    expect((await listChats(t, max)).chats[0].unread).toBe(0);
  });

  it('does not count deleted messages and shows the newest live message', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const first = await postMessage(t, a, doc._id, 'first');
    const second = await postMessage(t, a, doc._id, 'second');
    const del = await t.app.inject({ method: 'DELETE', url: `/chats/${doc._id}/messages/${second._id}`, headers: a.auth });
    expect(del.statusCode).toBe(200);
    const chat = (await listChats(t, b)).chats[0];
    expect(chat.unread).toBe(1);
    expect(chat.lastMessage._id).toBe(first._id);
  });

  it('orders chats by newest activity: last message time, else updatedAt (rulings.md 15)', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    const first = await group(t, a, [b]);
    const second = await group(t, a, [c]);
    const third = await oneToOne(t, a, b);
    let ids = (await listChats(t, a)).chats.map((x) => x._id);
    expect(ids).toEqual([third._id, second._id, first._id]);
    await postMessage(t, b, first._id);
    ids = (await listChats(t, a)).chats.map((x) => x._id);
    expect(ids).toEqual([first._id, third._id, second._id]);
  });

  it('pages with limit and page, count being the total', async () => {
    const a = await t.user();
    const b = await t.user();
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await group(t, a, [b]))._id);
    const newestFirst = made.reverse();
    const page1 = await listChats(t, a, '?limit=2');
    expect(page1.count).toBe(5);
    expect(page1.chats.map((c) => c._id)).toEqual(newestFirst.slice(0, 2));
    const page3 = await listChats(t, a, '?limit=2&page=3');
    expect(page3.chats.map((c) => c._id)).toEqual(newestFirst.slice(4));
    const beyond = await listChats(t, a, '?limit=2&page=4');
    expect(beyond).toEqual({ chats: [], count: 5 });
    // Default limit 10.
    expect((await listChats(t, a)).chats).toHaveLength(5);
  });

  it.each([
    ['?limit=0', 'limit'],
    ['?limit=101', 'limit'],
    ['?limit=abc', 'limit'],
    ['?page=0', 'page'],
    ['?page=-1', 'page'],
    ['?group=maybe', 'group'],
    ['?meetMeOnly=yes', 'meetMeOnly'],
  ])('answers 400 for %s', async (query, field) => {
    const a = await t.user();
    const res = await t.app.inject({ url: `/chats${query}`, headers: a.auth });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('accepts limit 100 and 1', async () => {
    const a = await t.user();
    for (const limit of [1, 100]) {
      const res = await t.app.inject({ url: `/chats?limit=${limit}`, headers: a.auth });
      expect(res.statusCode).toBe(200);
    }
  });

  it('filters group=true / group=false and meetMeOnly (rulings.md 15)', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    const g = await group(t, a, [b]);
    const plain = await oneToOne(t, a, b);
    const connectionId = await connection(t, c, a);
    const meetRes = await createChat(t, a, { user: c.id, meetMe: connectionId });
    expect(meetRes.statusCode).toBe(201);
    const meet = meetRes.json().chat;

    const ids = async (query: string) => (await listChats(t, a, query)).chats.map((x) => x._id).sort();
    expect(await ids('?group=true')).toEqual([g._id]);
    expect(await ids('?group=false')).toEqual([plain._id, meet._id].sort());
    expect(await ids('?group=false&meetMeOnly=true')).toEqual([meet._id]);
    expect((await listChats(t, a, '?group=false&meetMeOnly=true')).count).toBe(1);
    // meetMeOnly narrows only the one-to-one chats: group chats stay.
    expect(await ids('?meetMeOnly=true')).toEqual([g._id, meet._id].sort());
    expect(await ids('?group=true&meetMeOnly=true')).toEqual([g._id]);
    expect(await ids('?meetMeOnly=false')).toEqual([g._id, plain._id, meet._id].sort());
  });

  it('searches group names and the other party’s name or username, case-insensitively (rulings.md 15)', async () => {
    const a = await t.user();
    const tag = Math.random().toString(36).slice(2, 8);
    const bob = await t.user({ name: `Bobby ${tag}`, username: `bob_${tag}` });
    const carol = await t.user({ name: `Carol`, username: `carol_${tag}` });
    const g = await group(t, a, [bob], { name: `Math 101 ${tag}` });
    const withBob = await oneToOne(t, a, bob);
    const withCarol = await oneToOne(t, a, carol);

    const ids = async (search: string) =>
      (await listChats(t, a, `?search=${encodeURIComponent(search)}`)).chats.map((x) => x._id).sort();
    expect(await ids(`MATH 101 ${tag}`)).toEqual([g._id]);
    expect(await ids(`bobby ${tag.toUpperCase()}`)).toEqual([withBob._id]);
    expect(await ids(`CAROL_${tag}`)).toEqual([withCarol._id]);
    expect(await ids(tag)).toEqual([g._id, withBob._id, withCarol._id].sort());
    // The viewer's own name never matches their one-to-one chats.
    const viewerSide = await listChats(t, bob, `?search=${encodeURIComponent(a.username)}`);
    expect(viewerSide.chats.map((x) => x._id)).toEqual([withBob._id]);
    expect((await listChats(t, a, `?search=${encodeURIComponent(a.username)}`)).count).toBe(0);
    // % and _ are literal characters, not patterns.
    expect(await ids('%')).toEqual([]);
    expect(await ids(`bob%${tag}`)).toEqual([]);
    expect(await ids('_')).toEqual([withBob._id, withCarol._id].sort());
    expect(await ids(`math_101`)).toEqual([]);
    const combined = await listChats(t, a, `?search=${tag}&group=false`);
    expect(combined.count).toBe(2);
  });

  it('lists only the viewer’s chats', async () => {
    const a = await t.user();
    const b = await t.user();
    const c = await t.user();
    await group(t, b, [c]);
    expect(await listChats(t, a)).toEqual({ chats: [], count: 0 });
  });

  it('caps unread at config.limits.unreadCap', async () => {
    const capped = await startApp({ UNREAD_CAP: '3' });
    try {
      const a = await capped.user();
      const b = await capped.user();
      const doc = await group(capped, a, [b]);
      for (let i = 0; i < 5; i++) await postMessage(capped, a, doc._id, `m${i}`);
      const { chats } = await listChats(capped, b);
      expect(chats[0].unread).toBe(3);
    } finally {
      await capped.close();
    }
  });
});

describe('GET /chats/:id', () => {
  it('answers {chat} in the spec shape for a participant', async () => {
    const neha = await t.user({ name: 'Neha Sharma' });
    const max = await userWithPhoto(t, 'Max_R');
    const doc = await oneToOne(t, neha, max);
    const message = await postMessage(t, max, doc._id, 'hi');
    const maxSocket = await t.socket(max);
    await settle(100);

    const res = await t.app.inject({ url: `/chats/${doc._id}`, headers: neha.auth });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json())).toEqual(['chat']);
    const { chat } = res.json();
    expect(Object.keys(chat).sort()).toEqual([...VIEWER_KEYS, 'photo', 'category'].sort());
    expect(chat).toEqual({
      _id: doc._id,
      creator: brief(neha),
      user: { ...brief(max), isOnline: true },
      participants: [
        { user: { ...brief(neha), isOnline: false }, isAdmin: true, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
        { user: { ...brief(max), isOnline: true }, _id: expect.stringMatching(OBJECT_ID), lastReadAt: expect.stringMatching(ISO_DATE) },
      ],
      participantsCount: 2,
      createdAt: doc.createdAt,
      updatedAt: doc.updatedAt,
      lastMessage: message,
      tags: [],
      category: 'Study',
      areYouAdmin: true,
      name: 'Max_R',
      photo: max.photo,
      unread: 1,
      isJoined: true,
      isGroup: false,
      restricted: false,
      allowPublicPost: true,
    });
    // The same chat as in the list.
    const listed = (await listChats(t, neha)).chats.find((c) => c._id === doc._id);
    expect(listed).toEqual(chat);
    maxSocket.disconnect();
  });

  it('answers 403 NOT_A_PARTICIPANT, 404 CHAT_NOT_FOUND and 400 for a malformed id', async () => {
    const a = await t.user();
    const b = await t.user();
    const outsider = await t.user();
    const doc = await group(t, a, [b]);
    let res = await t.app.inject({ url: `/chats/${doc._id}`, headers: outsider.auth });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'NOT_A_PARTICIPANT' });
    res = await t.app.inject({ url: `/chats/dddddddddddddddddddddddd`, headers: a.auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404, code: 'CHAT_NOT_FOUND' });
    res = await t.app.inject({ url: `/chats/xyz`, headers: a.auth });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'id' });
    res = await t.app.inject({ url: `/chats/${doc._id}` });
    expect(res.statusCode).toBe(401);
  });
});

describe('POST /chats/:id/read', () => {
  it('sets lastReadAt to now, zeroes unread and tells only the viewer’s other sockets (rulings.md 28)', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    await postMessage(t, a, doc._id, 'x');
    await postMessage(t, a, doc._id, 'y');
    expect((await listChats(t, b)).chats[0].unread).toBe(2);

    const requesting = await t.socket(b);
    const otherDevice = await t.socket(b);
    const aSocket = await t.socket(a);
    const seenByRequesting = record(requesting, 'chat-read');
    const seenByA = record(aSocket, 'chat-read');
    const onOther = nextEvent(otherDevice, 'chat-read');
    const before = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: `/chats/${doc._id}/read`,
      headers: b.auth,
      payload: { socket: socketIdOf(requesting) },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    const event = await onOther;
    expect(Object.keys(event).sort()).toEqual(['chat', 'lastReadAt']);
    expect(event.chat).toBe(doc._id);
    expect(event.lastReadAt).toMatch(ISO_DATE);
    expect(Date.parse(event.lastReadAt)).toBeGreaterThanOrEqual(before - 1000);
    await settle(200);
    expect(seenByRequesting).toHaveLength(0);
    expect(seenByA).toHaveLength(0);

    const [row] = await dbRows<any>(
      t,
      sql`select iso(last_read_at) as read from participants where chat_id = ${doc._id} and user_id = ${b.id}`,
    );
    expect(row.read).toBe(event.lastReadAt);
    const listed = (await listChats(t, b)).chats[0];
    expect(listed.unread).toBe(0);
    expect(listed.participants.find((p: any) => p.user._id === b.id).lastReadAt).toBe(event.lastReadAt);
  });

  it('works without a body, and then every socket of the viewer gets chat-read', async () => {
    const a = await t.user();
    const b = await t.user();
    const doc = await group(t, a, [b]);
    const s1 = await t.socket(b);
    const s2 = await t.socket(b);
    const events = [nextEvent(s1, 'chat-read'), nextEvent(s2, 'chat-read')];
    const res = await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/read`, headers: b.auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    for (const e of await Promise.all(events)) expect(e.chat).toBe(doc._id);
  });

  it('answers 403 for a non-participant, 404 for an unknown chat, 400 for a bad socket', async () => {
    const a = await t.user();
    const b = await t.user();
    const outsider = await t.user();
    const doc = await group(t, a, [b]);
    let res = await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/read`, headers: outsider.auth });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
    res = await t.app.inject({ method: 'POST', url: `/chats/eeeeeeeeeeeeeeeeeeeeeeee/read`, headers: a.auth });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('CHAT_NOT_FOUND');
    res = await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/read`, headers: a.auth, payload: { socket: 'bad!' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'socket' });
    res = await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/read`, headers: a.auth, payload: { other: 1 } });
    expect(res.statusCode).toBe(400);
  });
});
