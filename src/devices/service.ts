// Push devices (supporting-api.md "Accounts"): the FCM registration tokens the push worker sends to.
import type { Deps } from '../shared/deps.js';
import { transaction } from '../shared/effects.js';
import * as q from './queries.js';

export async function registerDevice(deps: Deps, viewerId: string, input: { token: string; platform: q.Platform }) {
  await transaction(deps, (tx) => q.upsertDevice(tx, { token: input.token, userId: viewerId, platform: input.platform }));
}

/** Idempotent: an unknown token, or one now registered by someone else, is a success too. */
export async function removeDevice(deps: Deps, viewerId: string, token: string) {
  await transaction(deps, (tx) => q.deleteDevice(tx, token, viewerId));
}
