import { one, sql, type Db } from '../db/client.js';

export interface ScoreAnswer {
  score: number;
  actions: { action: string; points: number; at: string }[];
}

/**
 * Claims a once-only award (score_once's primary key makes the second claim a no-op).
 * True when this call claimed it.
 */
export async function claimOnce(db: Db, userId: string, action: string, ref: string): Promise<boolean> {
  const row = await one<{ claimed: boolean }>(
    db,
    sql`insert into score_once (user_id, action, ref) values (${userId}, ${action}, ${ref})
        on conflict do nothing returning true as claimed`,
  );
  return row !== undefined;
}

/** Records the action and adds its points to the user's score; returns the new score. */
export async function addScoreAction(
  db: Db,
  action: { id: string; userId: string; action: string; points: number; ref: string },
): Promise<number> {
  await db.execute(sql`insert into score_actions (id, user_id, action, points, ref)
    values (${action.id}, ${action.userId}, ${action.action}, ${action.points}, ${action.ref})`);
  const row = await one<{ score: number }>(
    db,
    sql`update users set score = score + ${action.points} where id = ${action.userId} returning score`,
  );
  return row!.score;
}

/**
 * GET /users/me/score in one round trip: the user's score and one page of their actions, newest
 * first, from score_actions_user_idx (user_id, at desc). Undefined when there is no such user.
 */
export function scoreWithActions(db: Db, userId: string, limit: number, offset: number): Promise<ScoreAnswer | undefined> {
  return one<ScoreAnswer>(
    db,
    sql`select u.score,
          coalesce((
            select jsonb_agg(jsonb_build_object('action', a.action, 'points', a.points, 'at', iso(a.at))
                             order by a.at desc, a.id desc)
            from (select action, points, at, id from score_actions
                  where user_id = u.id order by at desc, id desc limit ${limit} offset ${offset}) a), '[]'::jsonb) as actions
        from users u where u.id = ${userId}`,
  );
}
