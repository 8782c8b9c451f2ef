// SQL of GET /chats/explore/communities: the page of trending group chats with their reels, the
// viewer's pending request and membership, and the total count, in ONE statement.
import { one, sql, type Db } from '../db/client.js';
import type { SQL } from 'drizzle-orm';
import type { ParticipantDocument } from '../chats/view.js';
import { unreadCount } from '../chats/queries.js';
import { reelJson } from '../reels/queries.js';
import type { Reel } from '../reels/view.js';
import type { UserBrief } from '../shared/schemas.js';

export interface ExploreFilter {
  /** Trimmed, at least 3 characters (rulings.md 16). */
  search: string;
  category?: string;
  limit: number;
  page: number;
  reelsLimit: number;
}

/** rulings.md 17: the window and the weights of the trending activity (config.trending). */
export interface Trending {
  windowDays: number;
  messageWeight: number;
  reelWeight: number;
  joinWeight: number;
}

export interface JoinRequestJson {
  _id: string;
  user: string;
  chat: string;
  status: 'pending';
  createdAt: string;
}

export interface CommunityRow {
  _id: string;
  creator: UserBrief;
  isGroup: boolean;
  name: string;
  allowPublicPost: boolean;
  tags: { tag: string; label: string }[];
  participants: ParticipantDocument[];
  event?: string;
  photo?: string;
  createdAt: string;
  updatedAt: string;
  restricted: boolean;
  reelsCount: number;
  request?: JoinRequestJson;
  reels: Reel[];
  unread: number;
  isJoined: boolean;
  areYouAdmin: boolean;
  participantsCount: number;
}

/** ILIKE pattern matching `text` anywhere, with the pattern characters escaped. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * One activity term: weight × rows of the chat in the window, counted from the index that starts
 * with chat_id and the time column (a range scan bounded to the window, never the chat's history).
 * A zero weight drops the term and its scan.
 */
function activityTerm(weight: number, count: SQL): SQL | null {
  return weight === 0 ? null : sql`${weight}::float8 * (${count})`;
}

/**
 * The statement (bench/ may EXPLAIN it):
 * - blocked: the users the viewer blocked or was blocked by (both primary-key / index look-ups);
 * - matches: group chats whose name contains the search (the trigram index
 *   chats_group_name_trgm_idx, drizzle/0001_sql_functions.sql), of the category when given, whose
 *   creator is not in `blocked` (rulings.md 16);
 * - ranked: rulings.md 17's activity of each match = messageWeight × live messages
 *   (messages_chat_at_live_idx) + reelWeight × reels (reels_chat_created_idx) + joinWeight ×
 *   participants joined (participants_chat_joined_idx), all within the window;
 * - page: ordered by activity, then participantsCount, newest updatedAt, id; one page of it;
 * - the answer: the total count of matches (rulings.md 5) and the page's chats as JSON, each with
 *   its newest `reelsLimit` reels (a LIMITed index scan per chat of the page, in this same
 *   statement), reelsCount, the viewer's pending join request (join_requests_pending_key),
 *   isJoined, areYouAdmin and unread (chats-api.txt: "populate reels and unread messages count";
 *   0 in a chat the viewer has not joined) from the viewer's participant row.
 */
export function exploreQuery(viewerId: string, filter: ExploreFilter, trending: Trending, unreadCap: number): SQL {
  const conditions: SQL[] = [
    sql`c.is_group`,
    sql`c.name ilike ${containsPattern(filter.search)}`,
    sql`not exists (select 1 from blocked b where b.id = c.creator_id)`,
  ];
  if (filter.category !== undefined) conditions.push(sql`c.category = ${filter.category}`);

  const terms = [
    activityTerm(
      trending.messageWeight,
      sql`select count(*) from messages x where x.chat_id = m.id and x.deleted_at is null and x.at > w.since`,
    ),
    activityTerm(trending.reelWeight, sql`select count(*) from reels x where x.chat_id = m.id and x.created_at > w.since`),
    activityTerm(
      trending.joinWeight,
      sql`select count(*) from participants x where x.chat_id = m.id and x.joined_at > w.since`,
    ),
  ].filter((term): term is SQL => term !== null);
  const activity = terms.length > 0 ? sql.join(terms, sql` + `) : sql`0::float8`;
  const offset = (filter.page - 1) * filter.limit;

  // rulings.md 18, and not in the spec: reels by a user the viewer blocked or was blocked by are
  // left out of `reels` (reelsCount still counts every reel of the chat).
  const reels = filter.reelsLimit === 0
    ? sql`'[]'::jsonb`
    : sql`coalesce((
        select jsonb_agg(${reelJson(viewerId)} order by r.created_at desc, r.id desc)
        from (select * from reels r0
              where r0.chat_id = c.id and not exists (select 1 from blocked b where b.id = r0.user_id)
              order by r0.created_at desc, r0.id desc
              limit ${filter.reelsLimit}) r), '[]'::jsonb)`;

  return sql`with blocked as (
      select blocked_id as id from blocks where blocker_id = ${viewerId}
      union
      select blocker_id from blocks where blocked_id = ${viewerId}
    ),
    w as (select now() - make_interval(days => ${trending.windowDays}::int) as since),
    matches as (
      select c.id, c.participants_count, c.updated_at
      from chats c
      where ${sql.join(conditions, sql` and `)}
    ),
    ranked as (
      select m.id, m.participants_count, m.updated_at, (${activity}) as activity
      from matches m cross join w
    ),
    page as (
      select id, activity, participants_count, updated_at from ranked
      order by activity desc, participants_count desc, updated_at desc, id desc
      limit ${filter.limit} offset ${offset}
    )
    select
      (select count(*)::int from matches) as count,
      coalesce((
        select jsonb_agg(
          jsonb_strip_nulls(jsonb_build_object(
            '_id', c.id,
            'creator', (select user_brief(u) from users u where u.id = c.creator_id),
            'isGroup', c.is_group, 'name', c.name, 'allowPublicPost', c.allow_public_post, 'tags', c.tags,
            'participants', coalesce((
              select jsonb_agg(jsonb_build_object('user', p.user_id, 'isAdmin', case when p.is_admin then true end,
                                                  '_id', p.id, 'lastReadAt', iso(p.last_read_at), 'status', p.status)
                               order by p.joined_at, p.id)
              from participants p where p.chat_id = c.id), '[]'::jsonb),
            'event', c.event_id, 'photo', c.photo,
            'createdAt', iso(c.created_at), 'updatedAt', iso(c.updated_at), 'restricted', c.restricted,
            'reelsCount', (select count(*)::int from reels rc where rc.chat_id = c.id),
            'request', (select jsonb_build_object('_id', jr.id, 'user', jr.user_id, 'chat', jr.chat_id,
                                                  'status', jr.status, 'createdAt', iso(jr.created_at))
                        from join_requests jr
                        where jr.chat_id = c.id and jr.user_id = ${viewerId} and jr.status = 'pending'),
            'isJoined', vp.id is not null,
            'areYouAdmin', coalesce(vp.is_admin, false),
            'participantsCount', c.participants_count))
          || jsonb_build_object('reels', ${reels}, 'unread', ${unreadCount(viewerId, unreadCap)})
          order by pg.activity desc, pg.participants_count desc, pg.updated_at desc, pg.id desc)
        from page pg
        join chats c on c.id = pg.id
        left join participants vp on vp.chat_id = c.id and vp.user_id = ${viewerId}), '[]'::jsonb) as chats`;
}

export async function explore(
  db: Db,
  viewerId: string,
  filter: ExploreFilter,
  trending: Trending,
  unreadCap: number,
): Promise<{ chats: CommunityRow[]; count: number }> {
  const row = await one<{ count: number; chats: CommunityRow[] }>(db, exploreQuery(viewerId, filter, trending, unreadCap));
  return { chats: row!.chats, count: row!.count };
}
