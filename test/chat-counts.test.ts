// GET /chats `count` without a search comes from user_chat_counts, kept by triggers on
// participants (drizzle/0003_user_chat_counts.sql): every way a membership comes and goes counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { startApp, type TestApp, type TestUser } from './helpers/app.js';
import { follow, group, oneToOne } from './chats-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t.close());

const api = (user: TestUser, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: user.auth, ...(payload ? { payload } : {}) });

/** The counts GET /chats answers, and what the participants rows say. */
async function counts(user: TestUser) {
  const answered = async (query: string) => (await api(user, 'GET', `/chats?limit=1${query}`)).json().count as number;
  const [actual] = await rows<{ chats: number; groups: number }>(
    t.deps.database.db,
    sql`select count(*)::int as chats, (count(*) filter (where is_group))::int as groups
        from participants where user_id = ${user.id}`,
  );
  return {
    answered: { all: await answered(''), groups: await answered('&group=true'), oneToOne: await answered('&group=false') },
    actual: { all: actual.chats, groups: actual.groups, oneToOne: actual.chats - actual.groups },
  };
}

describe('GET /chats count from user_chat_counts', () => {
  it('follows chats created, joined through an add, left by a removal and gone with a deleted chat', async () => {
    const [a, b, c] = [await t.user(), await t.user(), await t.user()];
    expect((await counts(a)).answered).toEqual({ all: 0, groups: 0, oneToOne: 0 });

    await oneToOne(t, a, b);
    const g1 = await group(t, a, [b, c]);
    const g2 = await group(t, b, [c]);
    await follow(t, b, a);
    const added = await api(b, 'POST', `/chats/${g2._id}/participants/multiple`, { participants: [a.id] });
    expect(added.statusCode, added.body).toBe(200);
    const participantId = added.json().participants.find((p: { user: string }) => p.user === a.id)._id;
    let now = await counts(a);
    expect(now.answered).toEqual({ all: 3, groups: 2, oneToOne: 1 });
    expect(now.answered).toEqual(now.actual);

    expect((await api(b, 'DELETE', `/chats/${g2._id}/participants/${participantId}`)).statusCode).toBe(200);
    expect((await api(a, 'DELETE', `/chats/${g1._id}`)).statusCode).toBe(200); // cascades participants
    now = await counts(a);
    expect(now.answered).toEqual({ all: 1, groups: 0, oneToOne: 1 });
    expect(now.answered).toEqual(now.actual);
    for (const user of [b, c]) {
      const theirs = await counts(user);
      expect(theirs.answered).toEqual(theirs.actual);
    }
  });

  it('stays exact when groups with the same members are created at the same time', async () => {
    const members = await Promise.all(Array.from({ length: 5 }, () => t.user()));
    const creators = await Promise.all(Array.from({ length: 6 }, () => t.user()));
    for (const creator of creators) await follow(t, creator, ...members);
    // Each creator lists the members in another order: the counts' rows are still locked in order.
    const created = await Promise.all(
      creators.map((creator, i) =>
        t.app.inject({
          method: 'POST',
          url: '/chats',
          headers: creator.auth,
          payload: {
            isGroup: true,
            name: `Race ${i}`,
            category: 'Study',
            participants: (i % 2 ? [...members].reverse() : members).map((m) => m.id),
          },
        }),
      ),
    );
    for (const res of created) expect(res.statusCode, res.body).toBe(201);
    for (const member of members) {
      const now = await counts(member);
      expect(now.answered).toEqual({ all: 6, groups: 6, oneToOne: 0 });
    }
  });
});
