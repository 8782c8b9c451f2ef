// The two databases behave the same where the services rely on it: transactions are isolated
// (PGlite is one connection: a statement outside a transaction must wait for it, never run inside
// it), read-modify-write under FOR UPDATE keeps invariants, and unique violations, ON CONFLICT and
// row locks answer alike.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PgDialect } from 'drizzle-orm/pg-core';
import { compiledSql, one, openDatabase, postgresTarget, renderPlain, rows, sendAlongCommit, sql, textArray, type Db } from '../src/db/client.js';
import { users } from '../src/db/schema.js';
import { isForeignKeyViolation, isUniqueViolation, pgErrorCode } from '../src/shared/errors.js';
import { newId } from '../src/shared/ids.js';
import { dbKind, settle, startApp, unique, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
}, 180_000); // the first app of a worker opens and migrates PGlite: slow on a busy machine
afterAll(() => t?.close());

const db = (): Db => t.deps.database.db;

/** A user row written directly (no password hashing: these tests are about the database). */
async function newUser(score = 0): Promise<string> {
  const id = newId();
  await db().execute(sql`insert into users (id, name, username, score) values (${id}, 'Db test', ${unique('db_')}, ${score})`);
  return id;
}

const scoreOf = async (id: string) => (await one<{ score: number }>(db(), sql`select score from users where id = ${id}`))!.score;
const nameOf = async (id: string) => (await one<{ name: string }>(db(), sql`select name from users where id = ${id}`))!.name;

describe('concurrent transactions', () => {
  it('read-modify-write under FOR UPDATE loses no increment', async () => {
    const id = await newUser();
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, () =>
        db().transaction(async (tx) => {
          const row = await one<{ score: number }>(tx as unknown as Db, sql`select score from users where id = ${id} for update`);
          await settle(Math.random() * 5);
          await tx.execute(sql`update users set score = ${row!.score + 1} where id = ${id}`);
        }),
      ),
    );
    expect(await scoreOf(id)).toBe(n);
  });

  it('concurrent transfers keep the total, with some of them rolled back', async () => {
    const ids = await Promise.all([newUser(100), newUser(100), newUser(100)]);
    const transfer = (from: string, to: string, amount: number, fail: boolean) =>
      db().transaction(async (tx) => {
        // Locks in id order, so two opposite transfers cannot deadlock.
        const locked = await rows<{ id: string; score: number }>(
          tx as unknown as Db,
          sql`select id, score from users where id in (${from}, ${to}) order by id for update`,
        );
        const balance = locked.find((r) => r.id === from)!.score;
        if (balance < amount) return;
        await tx.execute(sql`update users set score = score - ${amount} where id = ${from}`);
        await settle(Math.random() * 3);
        if (fail) throw new Error('rolled back on purpose');
        await tx.execute(sql`update users set score = score + ${amount} where id = ${to}`);
      });
    const work = Array.from({ length: 45 }, (_, i) =>
      transfer(ids[i % 3], ids[(i + 1 + (i % 2)) % 3], 1 + (i % 7), i % 5 === 0).catch((e: Error) => {
        if (e.message !== 'rolled back on purpose') throw e;
      }),
    );
    await Promise.all(work);
    const scores = await Promise.all(ids.map(scoreOf));
    expect(scores.reduce((a, b) => a + b, 0)).toBe(300);
    expect(scores.every((s) => s >= 0)).toBe(true);
  });

  it('a statement outside an open transaction never sees its uncommitted writes', async () => {
    const id = await newUser();
    const before = await nameOf(id);
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    let written!: () => void;
    const wroteIt = new Promise<void>((r) => (written = r));
    const open = db()
      .transaction(async (tx) => {
        await tx.execute(sql`update users set name = 'uncommitted' where id = ${id}`);
        written();
        await hold;
        throw new Error('roll back');
      })
      .catch(() => 'rolled back');
    await wroteIt;
    // On PostgreSQL these run on other connections and see the committed name; on PGlite they
    // wait for the transaction to end. Either way none of them sees 'uncommitted'.
    const outside = Promise.all(Array.from({ length: 5 }, () => nameOf(id)));
    await settle(100);
    release();
    expect(await open).toBe('rolled back');
    expect(await outside).toEqual(Array(5).fill(before));
    expect(await nameOf(id)).toBe(before);
  });

  it("a write outside an open transaction is not undone by that transaction's rollback", async () => {
    const inside = await newUser();
    const outsideUser = await newUser();
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    let written!: () => void;
    const wroteIt = new Promise<void>((r) => (written = r));
    const open = db()
      .transaction(async (tx) => {
        await tx.execute(sql`update users set score = 1 where id = ${inside}`);
        written();
        await hold;
        throw new Error('roll back');
      })
      .catch(() => 'rolled back');
    await wroteIt;
    const outsideWrite = db().execute(sql`update users set score = 7 where id = ${outsideUser}`);
    await settle(100);
    release();
    await open;
    await outsideWrite;
    expect(await scoreOf(inside)).toBe(0);
    expect(await scoreOf(outsideUser)).toBe(7);
  });

  it('concurrent HTTP writes on one user keep their own results', async () => {
    const [a, b] = await Promise.all([t.user(), t.user()]);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.app.inject({ method: i % 2 ? 'DELETE' : 'POST', url: `/users/${b.id}/follow`, headers: a.auth }),
      ),
    );
    expect(answers.every((r) => r.statusCode === 200)).toBe(true);
    const follows = await rows(db(), sql`select 1 from follows where follower_id = ${a.id} and followee_id = ${b.id}`);
    expect(follows.length).toBeLessThanOrEqual(1);
  });
});

describe('the same answers on both databases', () => {
  it('unique violations are 23505, through raw SQL and through the builder', async () => {
    const id = await newUser();
    const username = (await one<{ username: string }>(db(), sql`select username from users where id = ${id}`))!.username;
    const raw = await db()
      .execute(sql`insert into users (id, name, username) values (${newId()}, 'x', ${username.toUpperCase()})`)
      .then(() => null, (e: unknown) => e);
    expect(pgErrorCode(raw)).toBe('23505');
    expect(isUniqueViolation(raw)).toBe(true);
    const built = await db()
      .insert(users)
      .values({ id, name: 'x', username: unique('other_') })
      .then(() => null, (e: unknown) => e);
    expect(isUniqueViolation(built)).toBe(true);
  });

  it('foreign-key violations are 23503', async () => {
    const error = await db()
      .execute(sql`insert into follows (follower_id, followee_id) values (${newId()}, ${newId()})`)
      .then(() => null, (e: unknown) => e);
    expect(pgErrorCode(error)).toBe('23503');
    expect(isForeignKeyViolation(error)).toBe(true);
  });

  it('a unique violation inside a transaction rolls all of it back', async () => {
    const id = await newUser();
    const error = await db()
      .transaction(async (tx) => {
        await tx.execute(sql`update users set score = 99 where id = ${id}`);
        await tx.execute(sql`insert into users (id, name, username) values (${id}, 'dup', ${unique('dup_')})`);
      })
      .then(() => null, (e: unknown) => e);
    expect(isUniqueViolation(error)).toBe(true);
    expect(await scoreOf(id)).toBe(0);
  });

  it('a nested transaction (savepoint) that fails undoes only its own writes', async () => {
    const id = await newUser();
    await db().transaction(async (tx) => {
      await tx.execute(sql`update users set score = 1 where id = ${id}`);
      await tx
        .transaction(async (inner) => {
          await inner.execute(sql`update users set score = 2 where id = ${id}`);
          throw new Error('inner');
        })
        .catch(() => {});
      await tx.transaction(async (inner) => {
        await inner.execute(sql`update users set name = 'kept' where id = ${id}`);
      });
    });
    expect(await scoreOf(id)).toBe(1);
    expect(await nameOf(id)).toBe('kept');
  });

  it('a transaction whose first statement fails rolls back, and the connection serves the next one', async () => {
    const id = await newUser();
    for (let i = 0; i < 8; i++) {
      const error = await db()
        .transaction(async (tx) => {
          await tx.execute(sql`select 1 / 0`);
        })
        .then(() => null, (e: unknown) => e);
      expect(pgErrorCode(error)).toBe('22012');
    }
    await db().transaction(async (tx) => {
      await tx.execute(sql`update users set score = 5 where id = ${id}`);
    });
    expect(await scoreOf(id)).toBe(5);
  });

  it('ON CONFLICT DO NOTHING returns no row, DO UPDATE returns the updated one', async () => {
    const [a, b] = await Promise.all([newUser(), newUser()]);
    const first = await rows(db(), sql`insert into follows (follower_id, followee_id) values (${a}, ${b})
      on conflict do nothing returning follower_id`);
    const second = await rows(db(), sql`insert into follows (follower_id, followee_id) values (${a}, ${b})
      on conflict do nothing returning follower_id`);
    expect(first).toEqual([{ follower_id: a }]);
    expect(second).toEqual([]);
    const token = unique('dbtok-');
    await db().execute(sql`insert into devices (token, user_id, platform) values (${token}, ${a}, 'ios')`);
    const moved = await rows(db(), sql`insert into devices (token, user_id, platform) values (${token}, ${b}, 'web')
      on conflict (token) do update set user_id = excluded.user_id returning user_id, platform`);
    expect(moved).toEqual([{ user_id: b, platform: 'ios' }]);
  });

  it('concurrent ON CONFLICT DO NOTHING inserts keep one row and never fail', async () => {
    const [a, b] = await Promise.all([newUser(), newUser()]);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        rows(db(), sql`insert into follows (follower_id, followee_id) values (${a}, ${b}) on conflict do nothing returning 1 as inserted`),
      ),
    );
    expect(results.flat()).toHaveLength(1);
  });

  it('SELECT … FOR UPDATE makes the second transaction wait and read the first one’s commit', async () => {
    const id = await newUser();
    const order: string[] = [];
    let locked!: () => void;
    const firstLocked = new Promise<void>((r) => (locked = r));
    const first = db().transaction(async (tx) => {
      const row = await one<{ score: number }>(tx as unknown as Db, sql`select score from users where id = ${id} for update`);
      locked();
      await settle(200);
      await tx.execute(sql`update users set score = ${row!.score + 1} where id = ${id}`);
      order.push('first commits');
    });
    await firstLocked;
    const second = db().transaction(async (tx) => {
      const row = await one<{ score: number }>(tx as unknown as Db, sql`select score from users where id = ${id} for update`);
      order.push(`second read ${row!.score}`);
      await tx.execute(sql`update users set score = ${row!.score + 10} where id = ${id}`);
    });
    await Promise.all([first, second]);
    expect(order).toEqual(['first commits', 'second read 1']);
    expect(await scoreOf(id)).toBe(11);
  });

  it('timestamps leave the database as ISO strings with milliseconds, in UTC', async () => {
    const row = await one<{ a: string; b: string; now: string }>(
      db(),
      sql`select iso('2025-09-25T10:52:56.333Z'::timestamptz) as a,
                 iso('2025-09-25T12:52:56.5+02:00'::timestamptz) as b, iso(now()) as now`,
    );
    expect(row).toEqual({ a: '2025-09-25T10:52:56.333Z', b: '2025-09-25T10:52:56.500Z', now: expect.stringMatching(/Z$/) });
  });
});

// rows() hands statements of plain text and values to postgres.js itself (src/db/client.ts
// renderPlain): the same text and parameters as drizzle renders, or drizzle's path.
describe('renderPlain', () => {
  const dialect = new PgDialect();
  const fragment = compiledSql<[string]>(1, (a) => sql`(select ${a}::text as a)`);

  it('renders as drizzle does: nested fragments, raw text, joins, text arrays, null, numbers', () => {
    const id = newId();
    const queries = [
      sql`select 1`,
      sql`select * from users where id = ${id} and score > ${3} and ${true} and ${null} is null`,
      sql`with x as ${fragment('f')} select x.a, ${sql.raw('2')}, ${'text'} from x where x.a = any(${textArray(['a', 'b"c'])})`,
      sql`update chats set ${sql.join([sql`name = ${'n'}`, sql`restricted = ${false}`], sql`, `)} where id = ${id}`,
      sql`select ${undefined}1`,
    ];
    for (const query of queries) {
      const drizzle = dialect.sqlToQuery(query);
      expect(renderPlain(query)).toEqual({ text: drizzle.sql, params: drizzle.params });
    }
  });

  it('leaves columns, arrays, dates and inlined params to drizzle', () => {
    expect(renderPlain(sql`select ${users.id} from users`)).toBeNull();
    expect(renderPlain(sql`select 1 where 1 in ${[1, 2]}`)).toBeNull();
    expect(renderPlain(sql`select ${new Date()}`)).toBeNull();
    expect(renderPlain(sql`select ${sql`${'x'}`.inlineParams()}`)).toBeNull();
  });

  it('gives the same rows as drizzle on both databases', async () => {
    const id = await newUser(7);
    const query = sql`select id, score, iso(created_at) as "createdAt", ${'x'}::text as x from users where id = ${id}`;
    const direct = await rows(db(), query);
    const result: any = await db().execute(query);
    expect(direct).toEqual(Array.isArray(result) ? [...result] : result.rows);
    expect(direct[0]).toMatchObject({ id, score: 7, x: 'x' });
  });
});

describe.skipIf(dbKind !== 'postgres')('PostgreSQL with and without prepared statements (DATABASE_PREPARE)', () => {
  for (const prepare of [true, false]) {
    it(`prepare ${prepare}: statements ${prepare ? 'are' : 'are not'} prepared; transactions commit, roll back and nest alike`, async () => {
      // One connection, so pg_prepared_statements shows what this client's statements left there.
      const database = await openDatabase({ url: inject('databaseUrl'), poolSize: 1, prepare, pgliteDir: null });
      try {
        const ddb = database.db;
        const id = newId();
        await rows(ddb, sql`insert into users (id, name, username) values (${id}, 'Prepared?', ${unique('prep_')})`);
        // postgres.js prepares its own look-up of the array types either way.
        const prepared = await one<{ n: number }>(
          ddb,
          sql`select count(*)::int as n from pg_prepared_statements where statement not like '%pg_catalog.pg_type%'`,
        );
        expect(prepared!.n > 0).toBe(prepare);

        await ddb.transaction(async (tx) => {
          await tx.execute(sql`update users set score = 1 where id = ${id}`);
          await tx.transaction(async (inner) => inner.execute(sql`update users set name = 'nested' where id = ${id}`));
          await sendAlongCommit(tx, () => rows(tx, sql`update users set score = score + 1 where id = ${id}`));
        });
        const failed = await ddb
          .transaction(async (tx) => {
            await tx.execute(sql`update users set score = 100 where id = ${id}`);
            await sendAlongCommit(tx, () => rows(tx, sql`select 1 / 0`));
          })
          .then(() => null, (e: unknown) => e);
        expect(pgErrorCode(failed)).toBe('22012');
        expect(await one(ddb, sql`select name, score from users where id = ${id}`)).toEqual({ name: 'nested', score: 2 });
      } finally {
        await database.close();
      }
    });
  }
});

describe.skipIf(dbKind !== 'postgres')('PostgreSQL over its Unix socket (DATABASE_URL ?host=<directory>)', () => {
  it('connects through the socket of the directory given as host, migrates and answers; a TCP URL stays on TCP', async () => {
    const tcpUrl = inject('databaseUrl');
    // The socket directory and port of the suite's server, asked over TCP.
    const tcp = await openDatabase({ url: tcpUrl, poolSize: 1, pgliteDir: null });
    let dir: string;
    let port: string;
    try {
      const settings = await one<{ dirs: string; port: string; addr: string | null }>(
        tcp.db,
        sql`select current_setting('unix_socket_directories') as dirs, current_setting('port') as port, inet_server_addr()::text as addr`,
      );
      expect(settings!.addr).not.toBeNull();
      dir = settings!.dirs.split(',')[0].trim();
      port = settings!.port;
    } finally {
      await tcp.close();
    }
    const url = new URL(tcpUrl);
    url.hostname = 'localhost';
    url.port = port;
    url.searchParams.set('host', dir);
    const local = await openDatabase({ url: url.toString(), poolSize: 2, pgliteDir: null });
    try {
      await local.migrate();
      await local.ping();
      // inet_server_addr() is null on a Unix-socket connection; the session took no `host` setting.
      expect(await one(local.db, sql`select inet_server_addr() as addr, current_setting('application_name') as app`)).toEqual({
        addr: null,
        app: 'chat-service',
      });
      const id = await newUser();
      expect(await one(local.db, sql`select count(*)::int as n from users where id = ${id}`)).toEqual({ n: 1 });
    } finally {
      await local.close();
    }
  });

  it('postgresTarget: a directory as host becomes the socket path, with the URL port or 5432; a name, the host', () => {
    expect(postgresTarget('postgres://u:p@localhost:6543/chat?host=/run/postgresql/&sslmode=disable')).toEqual({
      url: 'postgres://u:p@localhost:6543/chat?sslmode=disable',
      path: '/run/postgresql/.s.PGSQL.6543',
    });
    expect(postgresTarget('postgres://u@localhost/chat?host=/tmp')).toEqual({ url: 'postgres://u@localhost/chat', path: '/tmp/.s.PGSQL.5432' });
    // A host name as the parameter (libpq allows it too) replaces the URL's; no parameter, no change.
    expect(postgresTarget('postgres://u@localhost:5433/chat?host=db.internal')).toEqual({ url: 'postgres://u@db.internal:5433/chat' });
    expect(postgresTarget('postgres://u@db.internal:5432/chat')).toEqual({ url: 'postgres://u@db.internal:5432/chat' });
  });
});
