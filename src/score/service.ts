// The social score (supporting-api.md "Events, join requests, reels, score"): actions and their
// points are configuration (config.score.actions).
import type { Db } from '../db/client.js';
import type { Deps } from '../shared/deps.js';
import type { Effects } from '../shared/effects.js';
import { newId } from '../shared/ids.js';
import * as q from './queries.js';

export interface Award {
  action: string;
  points: number;
  score: number;
}

/**
 * Awards `action` to the user inside the caller's transaction and emits score-updated
 * {score, action, points} after commit. An action configured `once: 'chat'` is awarded once per
 * user and ref (rulings.md 25: join-group-chat once per user and chat); an action missing from the
 * configuration awards nothing. Returns the award, or null when nothing was awarded.
 * `exceptSocket` is the requesting socket of the user (rulings.md 7).
 */
export async function awardScore(
  tx: Db,
  effects: Effects,
  deps: Pick<Deps, 'config'>,
  userId: string,
  action: string,
  ref: string,
  exceptSocket?: string,
): Promise<Award | null> {
  const configured = deps.config.score.actions[action];
  if (!configured) return null;
  if (configured.once === 'chat' && !(await q.claimOnce(tx, userId, action, ref))) return null;
  const score = await q.addScoreAction(tx, { id: newId(), userId, action, points: configured.points, ref });
  const award = { score, action, points: configured.points };
  effects.emit([userId], 'score-updated', award, exceptSocket);
  return award;
}

/** GET /users/me/score: the viewer's score and their actions, newest first (one page of them). */
export async function myScore(deps: Deps, viewerId: string, page: { limit: number; page: number }): Promise<q.ScoreAnswer> {
  // The viewer exists: a token naming no user is refused before any route (src/auth/tokens.ts).
  return (await q.scoreWithActions(deps.database.db, viewerId, page.limit, (page.page - 1) * page.limit))!;
}
