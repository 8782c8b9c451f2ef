import { one, rows, sql, textArray, type Db } from '../db/client.js';
import type { UserBrief } from '../shared/schemas.js';

export interface UserRow {
  id: string;
  name: string;
  username: string;
  photo: string | null;
  score: number;
  passwordHash: string | null;
  createdAt: string;
}

const userColumns = sql`id, name, username, photo, score, password_hash as "passwordHash", iso(created_at) as "createdAt"`;

export async function insertUser(
  db: Db,
  user: { id: string; name: string; username: string; passwordHash: string; photo: string | null },
): Promise<UserRow> {
  return (await one<UserRow>(
    db,
    sql`insert into users (id, name, username, password_hash, photo)
        values (${user.id}, ${user.name}, ${user.username}, ${user.passwordHash}, ${user.photo})
        returning ${userColumns}`,
  ))!;
}

export function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return one<UserRow>(db, sql`select ${userColumns} from users where lower(username) = lower(${username})`);
}

export function findUser(db: Db, id: string): Promise<UserRow | undefined> {
  return one<UserRow>(db, sql`select ${userColumns} from users where id = ${id}`);
}

/** The ids among these that are existing users. */
export async function existingUserIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const found = await rows<{ id: string }>(db, sql`select id from users where id = any(${textArray(ids)})`);
  return new Set(found.map((r) => r.id));
}

export async function relationOf(
  db: Db,
  viewerId: string,
  otherId: string,
): Promise<{ isFollowed: boolean; isBlocked: boolean; blockedBy: boolean }> {
  const row = await one<{ isFollowed: boolean; isBlocked: boolean; blockedBy: boolean }>(
    db,
    sql`select
      exists (select 1 from follows where follower_id = ${viewerId} and followee_id = ${otherId}) as "isFollowed",
      exists (select 1 from blocks where blocker_id = ${viewerId} and blocked_id = ${otherId}) as "isBlocked",
      exists (select 1 from blocks where blocker_id = ${otherId} and blocked_id = ${viewerId}) as "blockedBy"`,
  );
  return row!;
}

/** True when either user has blocked the other. */
export async function isBlockedEitherWay(db: Db, a: string, b: string): Promise<boolean> {
  const row = await one<{ blocked: boolean }>(
    db,
    sql`select exists (select 1 from blocks where (blocker_id = ${a} and blocked_id = ${b})
                                       or (blocker_id = ${b} and blocked_id = ${a})) as blocked`,
  );
  return row!.blocked;
}

/**
 * Of these ids, the ones the viewer may add to a chat: followed by the viewer, or connected to
 * them by an accepted meet-me connection (chats-api.txt POST /chats).
 */
export async function reachableUserIds(db: Db, viewerId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const found = await rows<{ id: string }>(
    db,
    sql`select u.id from unnest(${textArray(ids)}) as u(id)
        where exists (select 1 from follows f where f.follower_id = ${viewerId} and f.followee_id = u.id)
           or exists (select 1 from connections c where c.status = 'accepted'
                      and ((c.requester_id = ${viewerId} and c.user_id = u.id)
                        or (c.user_id = ${viewerId} and c.requester_id = u.id)))`,
  );
  return new Set(found.map((r) => r.id));
}

export async function follow(db: Db, followerId: string, followeeId: string): Promise<void> {
  await db.execute(sql`insert into follows (follower_id, followee_id) values (${followerId}, ${followeeId})
    on conflict do nothing`);
}

export async function unfollow(db: Db, followerId: string, followeeId: string): Promise<void> {
  await db.execute(sql`delete from follows where follower_id = ${followerId} and followee_id = ${followeeId}`);
}

export async function block(db: Db, blockerId: string, blockedId: string): Promise<void> {
  await db.execute(sql`insert into blocks (blocker_id, blocked_id) values (${blockerId}, ${blockedId})
    on conflict do nothing`);
  // A block ends following in both directions.
  await db.execute(sql`delete from follows where (follower_id = ${blockerId} and followee_id = ${blockedId})
    or (follower_id = ${blockedId} and followee_id = ${blockerId})`);
}

export async function unblock(db: Db, blockerId: string, blockedId: string): Promise<void> {
  await db.execute(sql`delete from blocks where blocker_id = ${blockerId} and blocked_id = ${blockedId}`);
}

export function toBrief(user: Pick<UserRow, 'id' | 'name' | 'username' | 'photo'>): UserBrief {
  return { _id: user.id, name: user.name, username: user.username, ...(user.photo ? { photo: user.photo } : {}) };
}
