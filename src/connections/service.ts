// Meet-me connections (supporting-api.md): one user asks, the addressee accepts or rejects. An
// accepted connection lets either side start a one-to-one chat (rulings.md 20) and add the other
// to group chats (rulings.md 21).
import type { Deps } from '../shared/deps.js';
import { transaction } from '../shared/effects.js';
import { AppError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { findUser, isBlockedEitherWay } from '../users/queries.js';
import * as q from './queries.js';

export async function requestConnection(deps: Deps, viewerId: string, input: { user: string }): Promise<q.Connection> {
  if (input.user === viewerId) {
    throw new AppError('VALIDATION_FAILED', 'You cannot connect with yourself', { field: 'user' });
  }
  return transaction(deps, async (tx) => {
    if (!(await findUser(tx, input.user))) throw new AppError('USER_NOT_FOUND', 'No such user');
    if (await isBlockedEitherWay(tx, viewerId, input.user)) {
      throw new AppError('BLOCKED', 'You cannot connect with this user');
    }
    // Either direction counts: B asking A while A's request to B is pending is the same pair.
    if (await q.liveConnectionBetween(tx, viewerId, input.user)) {
      throw new AppError('CONNECTION_EXISTS', 'A pending or accepted connection with this user already exists');
    }
    return q.insertConnection(tx, { id: newId(), requesterId: viewerId, userId: input.user });
  });
}

export async function answerConnection(
  deps: Deps,
  viewerId: string,
  connectionId: string,
  status: 'accepted' | 'rejected',
): Promise<q.Connection> {
  return transaction(deps, async (tx) => {
    const connection = await q.findConnectionForUpdate(tx, connectionId);
    // Someone who is neither side does not learn that the connection exists.
    if (!connection || (connection.user !== viewerId && connection.requester !== viewerId)) {
      throw new AppError('CONNECTION_NOT_FOUND', 'No such connection');
    }
    if (connection.user !== viewerId) {
      throw new AppError('FORBIDDEN', 'Only the user asked can accept or reject a connection');
    }
    if (connection.status !== 'pending') {
      throw new AppError('CONFLICT', `This connection is already ${connection.status}`);
    }
    // A block made while the request was pending stops it from becoming accepted; rejecting stays possible.
    if (status === 'accepted' && (await isBlockedEitherWay(tx, connection.requester, connection.user))) {
      throw new AppError('BLOCKED', 'You cannot connect with this user');
    }
    return q.setConnectionStatus(tx, connectionId, status);
  });
}
