// Accounts and the social graph (supporting-api.md "Accounts").
import { hash, verify } from '@node-rs/argon2';
import type { Deps } from '../shared/deps.js';
import { AppError, isUniqueViolation } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import * as q from './queries.js';

// argon2id (the library's default algorithm) with its default cost.
const hashOptions = { algorithm: 2 as const };
// Verified when the username is unknown, so both failures take the same time and answer.
let dummyHash: Promise<string> | null = null;

export async function register(
  deps: Deps,
  input: { name: string; username: string; password: string; photo?: string },
) {
  const passwordHash = await hash(input.password, hashOptions);
  try {
    const user = await q.insertUser(deps.database.db, {
      id: newId(),
      name: input.name.trim(),
      username: input.username,
      passwordHash,
      photo: input.photo ?? null,
    });
    return { user, token: await deps.tokens.sign(user.id) };
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError('USERNAME_TAKEN', 'That username is taken');
    throw error;
  }
}

export async function login(deps: Deps, input: { username: string; password: string }) {
  const user = await q.findUserByUsername(deps.database.db, input.username);
  const stored = user?.passwordHash ?? (await (dummyHash ??= hash('not a password of anyone', hashOptions)));
  const ok = await verify(stored, input.password).catch(() => false);
  if (!user || !ok) throw new AppError('INVALID_CREDENTIALS', 'Wrong username or password');
  return { user, token: await deps.tokens.sign(user.id) };
}

export async function me(deps: Deps, viewerId: string) {
  // The viewer exists: a token naming no user is refused before any route (src/auth/tokens.ts).
  return (await q.findUser(deps.database.db, viewerId))!;
}

export async function profile(deps: Deps, viewerId: string, userId: string) {
  const db = deps.database.db;
  const user = await q.findUser(db, userId);
  if (!user) throw new AppError('USER_NOT_FOUND', 'No such user');
  const relation = await q.relationOf(db, viewerId, userId);
  return { user, isFollowed: relation.isFollowed, isBlocked: relation.isBlocked };
}

async function requireOther(deps: Deps, viewerId: string, userId: string, verb: string) {
  if (userId === viewerId) {
    throw new AppError('VALIDATION_FAILED', `You cannot ${verb} yourself`, { field: 'id' });
  }
  if (!(await q.findUser(deps.database.db, userId))) throw new AppError('USER_NOT_FOUND', 'No such user');
}

export async function follow(deps: Deps, viewerId: string, userId: string) {
  await requireOther(deps, viewerId, userId, 'follow');
  if (await q.isBlockedEitherWay(deps.database.db, viewerId, userId)) {
    throw new AppError('BLOCKED', 'You cannot follow this user');
  }
  await q.follow(deps.database.db, viewerId, userId);
}

export async function unfollow(deps: Deps, viewerId: string, userId: string) {
  await requireOther(deps, viewerId, userId, 'unfollow');
  await q.unfollow(deps.database.db, viewerId, userId);
}

export async function block(deps: Deps, viewerId: string, userId: string) {
  await requireOther(deps, viewerId, userId, 'block');
  await deps.database.db.transaction((tx) => q.block(tx as any, viewerId, userId));
}

export async function unblock(deps: Deps, viewerId: string, userId: string) {
  await requireOther(deps, viewerId, userId, 'unblock');
  await q.unblock(deps.database.db, viewerId, userId);
}
