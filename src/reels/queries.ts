// SQL of reels and their reactions. The reel JSON is built in the database (reelJson), so explore
// reads a page of chats with their reels in the same statement.
import { one, sql, textArray, type Db } from '../db/client.js';
import type { SQL } from 'drizzle-orm';
import type { Reaction, Reel } from './view.js';

/**
 * Reels row `r` as `viewerId` sees it (the Reel schema in ./view.ts): the author populated with
 * isFollowed, or null for an anonymous reel; the viewer's own reactions from reel_reactions' primary
 * key (reel_id, user_id, kind). Nothing is stripped: `user` and `chat` stay when null.
 */
export function reelJson(viewerId: string): SQL {
  return sql`jsonb_build_object(
    '_id', r.id,
    'user', case when r.is_anonymous then null else (
      select user_brief(u) || jsonb_build_object('isFollowed',
               exists (select 1 from follows f where f.follower_id = ${viewerId} and f.followee_id = u.id))
      from users u where u.id = r.user_id) end,
    'chat', r.chat_id, 'description', r.description, 'tag', r.tag, 'video', r.video,
    'hashtags', to_jsonb(r.hashtags), 'isAnonymous', r.is_anonymous,
    'views', r.views, 'likes', r.likes, 'superLikes', r.super_likes, 'shares', r.shares, 'comments', r.comments,
    'createdAt', iso(r.created_at), 'updatedAt', iso(r.updated_at),
    'isLiked', exists (select 1 from reel_reactions x where x.reel_id = r.id and x.user_id = ${viewerId} and x.kind = 'like'),
    'isSuperLiked', exists (select 1 from reel_reactions x where x.reel_id = r.id and x.user_id = ${viewerId} and x.kind = 'super-like'),
    'isFavorite', exists (select 1 from reel_reactions x where x.reel_id = r.id and x.user_id = ${viewerId} and x.kind = 'favorite'))`;
}

export async function insertReel(
  tx: Db,
  reel: {
    id: string;
    userId: string;
    chatId: string | null;
    description: string;
    tag: string;
    video: string;
    videoKey: string | null;
    hashtags: string[];
    isAnonymous: boolean;
  },
): Promise<void> {
  await tx.execute(
    sql`insert into reels (id, user_id, chat_id, description, tag, video, video_key, hashtags, is_anonymous)
        values (${reel.id}, ${reel.userId}, ${reel.chatId}, ${reel.description}, ${reel.tag}, ${reel.video},
                ${reel.videoKey}, ${textArray(reel.hashtags)}, ${reel.isAnonymous})`,
  );
}

export async function reelForViewer(db: Db, reelId: string, viewerId: string): Promise<Reel | undefined> {
  return (await one<{ reel: Reel }>(db, sql`select ${reelJson(viewerId)} as reel from reels r where r.id = ${reelId}`))?.reel;
}

/**
 * Whether the reel exists. Not locked: a reaction's insert takes the foreign key's KEY SHARE lock
 * on the reel, which the counter UPDATE (FOR NO KEY UPDATE) of another reaction does not conflict
 * with; an explicit FOR SHARE here would deadlock two reactions racing on one reel.
 */
export async function reelExists(db: Db, reelId: string): Promise<boolean> {
  return (await one(db, sql`select 1 from reels where id = ${reelId}`)) !== undefined;
}

/** The counter a reaction kind keeps on reels; favorites have none. */
function counterOf(kind: Reaction): SQL | null {
  if (kind === 'like') return sql`likes`;
  if (kind === 'super-like') return sql`super_likes`;
  return null;
}

/**
 * Adds the viewer's reaction. The primary key (reel_id, user_id, kind) makes a second add a no-op,
 * and the counter moves only when a row was actually inserted (same statement, so same transaction).
 */
export async function addReaction(tx: Db, reelId: string, userId: string, kind: Reaction): Promise<boolean> {
  const counter = counterOf(kind);
  const row = await one<{ added: number }>(
    tx,
    counter
      ? sql`with added as (
              insert into reel_reactions (reel_id, user_id, kind) values (${reelId}, ${userId}, ${kind})
              on conflict do nothing returning reel_id)
            , bumped as (update reels set ${counter} = ${counter} + 1 where id in (select reel_id from added) returning id)
            select count(*)::int as added from added`
      : sql`with added as (
              insert into reel_reactions (reel_id, user_id, kind) values (${reelId}, ${userId}, ${kind})
              on conflict do nothing returning reel_id)
            select count(*)::int as added from added`,
  );
  return row!.added > 0;
}

/** Removes the viewer's reaction; the counter moves only when a row was actually deleted. */
export async function removeReaction(tx: Db, reelId: string, userId: string, kind: Reaction): Promise<boolean> {
  const counter = counterOf(kind);
  const row = await one<{ removed: number }>(
    tx,
    counter
      ? sql`with removed as (
              delete from reel_reactions where reel_id = ${reelId} and user_id = ${userId} and kind = ${kind}
              returning reel_id)
            , lowered as (update reels set ${counter} = greatest(${counter} - 1, 0) where id in (select reel_id from removed) returning id)
            select count(*)::int as removed from removed`
      : sql`with removed as (
              delete from reel_reactions where reel_id = ${reelId} and user_id = ${userId} and kind = ${kind}
              returning reel_id)
            select count(*)::int as removed from removed`,
  );
  return row!.removed > 0;
}
