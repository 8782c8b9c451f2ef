// SQL of the chats resource. The hot reads (the chat list, a chat for a viewer, the chat document)
// are one round trip each and build their JSON in the database.
import { compiledSql, one, rows, sql, textArray, type Db } from '../db/client.js';
import { jsonObject, userBriefText } from '../db/json.js';
import { liveMessageText } from '../messages/queries.js';
import type { SQL } from 'drizzle-orm';
import type { UserBrief } from '../shared/schemas.js';
import type { ChatDocument, LastMessage } from './view.js';

export interface ChatRow {
  id: string;
  isGroup: boolean;
  creatorId: string;
  userId: string | null;
  pairKey: string | null;
  meetMeId: string | null;
  name: string | null;
  category: string | null;
  restricted: boolean;
  allowPublicPost: boolean;
  photo: string | null;
  photoKey: string | null;
  tags: { tag: string; label: string }[];
  eventId: string | null;
  lastMessageId: string | null;
  lastMessageAt: string | null;
  participantsCount: number;
  createdAt: string;
  updatedAt: string;
}

const chatColumns = sql`c.id, c.is_group as "isGroup", c.creator_id as "creatorId", c.user_id as "userId",
  c.pair_key as "pairKey", c.meet_me_id as "meetMeId", c.name, c.category, c.restricted,
  c.allow_public_post as "allowPublicPost", c.photo, c.photo_key as "photoKey", c.tags,
  c.event_id as "eventId", c.last_message_id as "lastMessageId", iso(c.last_message_at) as "lastMessageAt",
  c.participants_count as "participantsCount", iso(c.created_at) as "createdAt", iso(c.updated_at) as "updatedAt"`;

export async function findChat(db: Db, chatId: string, forUpdate: boolean): Promise<ChatRow | undefined> {
  return one<ChatRow>(
    db,
    sql`select ${chatColumns} from chats c where c.id = ${chatId} ${forUpdate ? sql`for update` : sql``}`,
  );
}

export async function findChatAndParticipant(
  db: Db,
  chatId: string,
  userId: string,
): Promise<
  | {
      participant: {
        id: string;
        isAdmin: boolean;
        status: 'pending' | 'accepted' | 'rejected' | null;
        lastReadAt: string;
      } | null;
    }
  | undefined
> {
  return one(
    db,
    sql`select case when p.id is null then null else
               jsonb_build_object('id', p.id, 'isAdmin', p.is_admin, 'status', p.status,
                                  'lastReadAt', iso(p.last_read_at)) end as participant
        from chats c left join participants p on p.chat_id = c.id and p.user_id = ${userId}
        where c.id = ${chatId}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Chat JSON built in SQL (keys omitted when null, as the spec examples show).

/**
 * The category of chats row `c` as shown. A one-to-one chat has none stored and shows `Study`, as
 * both one-to-one chats of the GET /chats example do: rulings.md 14 keeps only Study's tags off
 * them (their `tags` are []), and a client decoding the example's keys finds `category` on every chat.
 */
const shownCategory = sql`coalesce(c.category, case when not c.is_group then 'Study' end)`;

/** The chat document of chats row `c` (rulings.md 11: participants' user is the plain id). */
const chatDocumentJson = sql`jsonb_strip_nulls(jsonb_build_object(
  '_id', c.id, 'creator', c.creator_id, 'isGroup', c.is_group, 'category', ${shownCategory}, 'name', c.name,
  'allowPublicPost', c.allow_public_post, 'restricted', c.restricted, 'tags', c.tags,
  'createdAt', iso(c.created_at), 'updatedAt', iso(c.updated_at), 'photo', c.photo,
  'user', c.user_id, 'meetMe', c.meet_me_id, 'event', c.event_id,
  'participants', coalesce((
    select jsonb_agg(jsonb_build_object('user', p.user_id, 'isAdmin', case when p.is_admin then true end,
                                        '_id', p.id, 'lastReadAt', iso(p.last_read_at), 'status', p.status)
                     order by p.joined_at, p.id)
    from participants p where p.chat_id = c.id), '[]'::jsonb)))`;

/** The chats in the order of `ids`; ids with no chat (deleted meanwhile) are left out. */
function inIdOrder<T extends { _id: string }>(ids: string[], chats: T[]): T[] {
  const byId = new Map(chats.map((chat) => [chat._id, chat]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export async function chatDocuments(db: Db, chatIds: string[]): Promise<ChatDocument[]> {
  if (chatIds.length === 0) return [];
  const found = await rows<{ doc: ChatDocument }>(
    db,
    sql`select ${chatDocumentJson} as doc from chats c where c.id = any(${textArray(chatIds)})`,
  );
  return inIdOrder(chatIds, found.map((r) => r.doc));
}

/** A chat for a viewer before presence is added (isOnline comes from the realtime port). */
export interface ChatForViewerRow {
  _id: string;
  creator: UserBrief;
  user?: UserBrief;
  isGroup: boolean;
  category?: string;
  name?: string;
  photo?: string;
  allowPublicPost: boolean;
  restricted: boolean;
  participants: {
    user: UserBrief;
    isAdmin?: true;
    _id: string;
    lastReadAt: string;
    status?: 'pending' | 'accepted' | 'rejected';
  }[];
  participantsCount: number;
  tags: { tag: string; label: string }[];
  createdAt: string;
  updatedAt: string;
  meetMe?: string;
  event?: string;
  lastMessage: LastMessage | null;
  unread: number;
  isJoined: boolean;
  areYouAdmin: boolean;
}

/**
 * rulings.md 12: the viewer's unread messages in chats row `c`, from their participant row `vp`
 * (0 without one): live messages after its lastReadAt not sent by the viewer, read from the
 * partial index messages_chat_at_live_idx and capped at `unreadCap` (DESIGN.md "Data that must
 * stay fast"): a LIMITed subquery never counts more rows than the cap. A bigint.
 */
export const unreadCount = (viewerId: string | SQL, unreadCap: number | SQL): SQL =>
  sql`(select count(*) from (
        select 1 from messages m
        where m.chat_id = c.id and m.deleted_at is null and m.at > vp.last_read_at and m.user_id <> ${viewerId}
        limit ${unreadCap}) unread)`;

/**
 * Chats row `c` as the viewer sees it, as JSON text (parse it with JSON.parse); `vp` is the
 * viewer's participant row (id, is_admin, last_read_at), null when the viewer is not a participant.
 * - rulings.md 9: a one-to-one chat's name and photo are the other party's.
 * - rulings.md 12: unread, as unreadCount.
 * - lastMessage is chats.last_message_id (kept by the messages writes), never a scan of messages.
 * Keys come in the order the former jsonb answer had (jsonb sorts keys: shorter first, then
 * bytewise), so the parsed objects, and the answers serialized from them, are unchanged.
 */
const chatForViewerJson = compiledSql<[viewerId: string, unreadCap: number]>(2, (viewerId, unreadCap) =>
  jsonObject([
    ['_id', sql`to_json(c.id)::text`],
    ['name', sql`to_json(case when c.is_group then c.name else other.name end)::text`],
    ['tags', sql`jsonb_strip_nulls(c.tags)::text`],
    ['user', sql`(select ${userBriefText('u')} from users u where u.id = c.user_id)`],
    ['event', sql`to_json(c.event_id)::text`],
    ['photo', sql`to_json(case when c.is_group then c.photo else other.photo end)::text`],
    ['meetMe', sql`to_json(c.meet_me_id)::text`],
    ['unread', sql`${unreadCount(viewerId, unreadCap)}::text`],
    ['creator', sql`(select ${userBriefText('u')} from users u where u.id = c.creator_id)`],
    ['isGroup', sql`c.is_group::text`],
    ['category', sql`to_json(${shownCategory})::text`],
    ['isJoined', sql`(vp.id is not null)::text`],
    ['createdAt', sql`to_json(iso(c.created_at))::text`],
    ['updatedAt', sql`to_json(iso(c.updated_at))::text`],
    ['restricted', sql`c.restricted::text`],
    ['areYouAdmin', sql`coalesce(vp.is_admin, false)::text`],
    [
      'lastMessage',
      sql`coalesce((select ${liveMessageText} from messages m
                    where m.id = c.last_message_id and m.deleted_at is null), 'null')`,
    ],
    [
      'participants',
      sql`coalesce((
      select '[' || string_agg(${jsonObject([
        ['_id', sql`to_json(p.id)::text`],
        ['user', userBriefText('u')],
        ['status', sql`to_json(p.status)::text`],
        // rulings.md 13: isAdmin appears only for admins.
        ['isAdmin', sql`case when p.is_admin then 'true' end`],
        ['lastReadAt', sql`to_json(iso(p.last_read_at))::text`],
      ])}, ',' order by p.joined_at, p.id) || ']'
      from participants p join users u on u.id = p.user_id where p.chat_id = c.id), '[]')`,
    ],
    ['allowPublicPost', sql`c.allow_public_post::text`],
    ['participantsCount', sql`c.participants_count::text`],
  ]),
);

/** The other party of a one-to-one chat (for groups: unused). */
function otherPartyJoin(viewerId: string): SQL {
  return sql`left join users other on not c.is_group
    and other.id = case when c.creator_id = ${viewerId} then c.user_id else c.creator_id end`;
}

export async function chatForViewer(
  db: Db,
  chatId: string,
  viewerId: string,
  unreadCap: number,
): Promise<ChatForViewerRow | null> {
  return (await chatsForViewer(db, [chatId], viewerId, unreadCap))[0] ?? null;
}

/**
 * Many chats as the viewer sees them, in one round trip, in the order of `chatIds` (chats that no
 * longer exist are left out). GET /sync answers the viewer's changed chats through it (src/sync/).
 */
export async function chatsForViewer(
  db: Db,
  chatIds: string[],
  viewerId: string,
  unreadCap: number,
): Promise<ChatForViewerRow[]> {
  return inIdOrder(chatIds, (await viewerChats(db, chatIds, viewerId, unreadCap)).map((r) => r.chat));
}

/**
 * The chats of `chatIds` that the viewer is in, with the viewer's order key: what a cached first
 * page needs of a chat that moved into it (src/chats/list-patch.ts).
 */
export async function listedChats(
  db: Db,
  chatIds: string[],
  viewerId: string,
  unreadCap: number,
): Promise<{ chat: ChatForViewerRow; key: number }[]> {
  return (await viewerChats(db, chatIds, viewerId, unreadCap)).filter((r): r is { chat: ChatForViewerRow; key: number } => r.key !== null);
}

/** A timestamp(3) as the number of ms since the epoch (exact: a float8 holds it). */
function orderKey(column: SQL): SQL {
  return sql`(extract(epoch from ${column}) * 1000)::float8`;
}

/**
 * The chats of `chatIds` as the viewer sees them (before presence), with the viewer's order key
 * (participants.activity_at in ms; null when the viewer is not in the chat), in one round trip.
 */
async function viewerChats(
  db: Db,
  chatIds: string[],
  viewerId: string,
  unreadCap: number,
): Promise<{ chat: ChatForViewerRow; key: number | null }[]> {
  if (chatIds.length === 0) return [];
  const found = await rows<{ chat: string; key: number | null }>(
    db,
    sql`select ${chatForViewerJson(viewerId, unreadCap)} as chat, ${orderKey(sql`vp.activity_at`)} as key
        from chats c
        left join participants vp on vp.chat_id = c.id and vp.user_id = ${viewerId}
        ${otherPartyJoin(viewerId)}
        where c.id = any(${textArray(chatIds)})`,
  );
  return found.map((r) => ({ chat: JSON.parse(r.chat) as ChatForViewerRow, key: r.key }));
}

export interface ChatListFilter {
  limit: number;
  page: number;
  search?: string;
  group?: boolean;
  meetMeOnly?: boolean;
}

/** ILIKE pattern matching `text` anywhere, with the pattern characters escaped. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * GET /chats in one round trip: the viewer's participant rows in the order of the index
 * participants_user_activity_idx (user_id, activity_at DESC NULLS LAST, chat_id DESC NULLS LAST),
 * one page of them, then each chat's JSON; plus the total count of matches (rulings.md 5).
 * chats is joined for the filter only when search needs it.
 */
export async function listChats(
  db: Db,
  viewerId: string,
  filter: ChatListFilter,
  unreadCap: number,
): Promise<{ chats: ChatForViewerRow[]; count: number; keys: number[] }> {
  const row = await one<{ count: number; chats: string; keys: string }>(db, listChatsQuery(viewerId, filter, unreadCap));
  return { chats: JSON.parse(row!.chats) as ChatForViewerRow[], count: row!.count, keys: JSON.parse(row!.keys) as number[] };
}

/** The GET /chats statement (bench/explain-chats.ts EXPLAINs it). */
export function listChatsQuery(viewerId: string, filter: ChatListFilter, unreadCap: number): SQL {
  const conditions: SQL[] = [sql`p.user_id = ${viewerId}`];
  if (filter.group !== undefined) conditions.push(sql`p.is_group = ${filter.group}`);
  // rulings.md 15: meetMeOnly narrows the one-to-one chats to those made from a meet-me connection.
  // Written as a semi-join the planner answers from chats_meet_me_idx, not by scanning chats.
  if (filter.meetMeOnly) {
    conditions.push(sql`(p.is_group or exists (select 1 from chats mc where mc.id = p.chat_id and mc.meet_me_id is not null))`);
  }
  if (filter.search) {
    // rulings.md 15: the group's name, or a one-to-one chat's other party's name or username.
    const pattern = containsPattern(filter.search);
    conditions.push(sql`(case when c.is_group then c.name ilike ${pattern}
      else exists (select 1 from users o
                   where o.id = case when c.creator_id = ${viewerId} then c.user_id else c.creator_id end
                     and (o.name ilike ${pattern} or o.username ilike ${pattern})) end)`);
  }
  const where = sql.join(conditions, sql` and `);
  const offset = (filter.page - 1) * filter.limit;
  const columns = sql`p.id, p.chat_id, p.is_admin, p.last_read_at, p.activity_at`;
  const order = sql`activity_at desc nulls last, chat_id desc nulls last`;

  // Without search: the page walks the index in order and stops after offset + limit rows; the
  // count is the viewer's row of user_chat_counts (kept by triggers, src/db/schema.ts), or, for
  // meetMeOnly, read from the index (is_group is in it). With search every one of the viewer's
  // chats must be tested anyway, so the matches are found once and both the count and the page
  // use them.
  const stored =
    filter.group === undefined ? sql`n.chats` : filter.group ? sql`n.groups` : sql`n.chats - n.groups`;
  const total = filter.meetMeOnly
    ? sql`select count(*)::int as count from participants p where ${where}`
    : sql`select coalesce((select ${stored} from user_chat_counts n where n.user_id = ${viewerId}), 0) as count`;
  const ctes = filter.search
    ? sql`matches as materialized (
            select ${columns} from participants p join chats c on c.id = p.chat_id where ${where}),
          page as (select * from matches order by ${order} limit ${filter.limit} offset ${offset}),
          total as (select count(*)::int as count from matches)`
    : sql`page as (
            select ${columns} from participants p where ${where}
            order by p.activity_at desc nulls last, p.chat_id desc nulls last
            limit ${filter.limit} offset ${offset}),
          total as (${total})`;

  return sql`with ${ctes}
        select
          (select count from total) as count,
          -- The page's order keys in ms (timestamps are kept to the ms), in the page's order: the
          -- chat list cache patches a cached first page with them (src/chats/list-patch.ts).
          (select coalesce(json_agg(${orderKey(sql`activity_at`)} order by ${order}), '[]')::text from page) as keys,
          coalesce((
            select '[' || string_agg(${chatForViewerJson(viewerId, unreadCap)}, ','
                                     order by vp.activity_at desc nulls last, vp.chat_id desc nulls last) || ']'
            from page vp
            join chats c on c.id = vp.chat_id
            ${otherPartyJoin(viewerId)}), '[]') as chats`;
}

// ---------------------------------------------------------------------------------------------
// Writes

export function pairKeyOf(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

export async function findChatIdByPair(db: Db, pairKey: string): Promise<string | undefined> {
  return (await one<{ id: string }>(db, sql`select id from chats where pair_key = ${pairKey}`))?.id;
}

/**
 * The one-to-one chat of a pair, created unless it exists. The unique index on pair_key decides
 * between concurrent creators: the loser's insert does nothing (after waiting for the winner's
 * commit) and reads the winner's chat. `created` tells which one this was.
 */
export async function insertOneToOne(
  tx: Db,
  chat: { id: string; creatorId: string; userId: string; meetMeId: string | null; creatorParticipantId: string; userParticipantId: string },
): Promise<{ id: string; created: boolean }> {
  const pairKey = pairKeyOf(chat.creatorId, chat.userId);
  const inserted = await one<{ id: string }>(
    tx,
    sql`insert into chats (id, is_group, creator_id, user_id, pair_key, meet_me_id, participants_count)
        values (${chat.id}, false, ${chat.creatorId}, ${chat.userId}, ${pairKey}, ${chat.meetMeId}, 2)
        on conflict (pair_key) do nothing
        returning id`,
  );
  if (!inserted) return { id: (await findChatIdByPair(tx, pairKey))!, created: false };
  // rulings.md 13: the creator is an admin participant; lastReadAt and joinedAt start now.
  await insertParticipants(tx, chat.id, false, [
    { id: chat.creatorParticipantId, userId: chat.creatorId, isAdmin: true },
    { id: chat.userParticipantId, userId: chat.userId, isAdmin: false },
  ]);
  return { id: chat.id, created: true };
}

export async function insertGroupChat(
  tx: Db,
  chat: {
    id: string;
    creatorId: string;
    name: string;
    category: string;
    tags: { tag: string; label: string }[];
    restricted: boolean;
    allowPublicPost: boolean;
    participants: { id: string; userId: string; isAdmin: boolean }[];
  },
): Promise<void> {
  await tx.execute(
    sql`insert into chats (id, is_group, creator_id, name, category, tags, restricted, allow_public_post, participants_count)
        values (${chat.id}, true, ${chat.creatorId}, ${chat.name}, ${chat.category}, ${JSON.stringify(chat.tags)}::jsonb,
                ${chat.restricted}, ${chat.allowPublicPost}, ${chat.participants.length})`,
  );
  await insertParticipants(tx, chat.id, true, chat.participants);
}

/**
 * Participants of a chat created in this transaction: activity_at is the chat's activity (its
 * updated_at, which is now()), lastReadAt and joinedAt are now (rulings.md 13).
 */
async function insertParticipants(
  tx: Db,
  chatId: string,
  isGroup: boolean,
  list: { id: string; userId: string; isAdmin: boolean }[],
): Promise<void> {
  await tx.execute(
    sql`insert into participants (id, chat_id, user_id, is_admin, is_group, last_read_at, joined_at, activity_at)
        select v.id, ${chatId}, v.user_id, v.is_admin, ${isGroup}, now(), now(), now()
        from unnest(${textArray(list.map((p) => p.id))}, ${textArray(list.map((p) => p.userId))},
                    ${`{${list.map((p) => (p.isAdmin ? 't' : 'f')).join(',')}}`}::boolean[])
             as v(id, user_id, is_admin)`,
  );
}

export async function participantUserIds(db: Db, chatId: string): Promise<string[]> {
  const found = await rows<{ userId: string }>(
    db,
    sql`select user_id as "userId" from participants where chat_id = ${chatId} order by joined_at, id`,
  );
  return found.map((r) => r.userId);
}

/** The connection if it exists: {requesterId, userId, status}. */
export async function findConnection(
  db: Db,
  connectionId: string,
): Promise<{ requesterId: string; userId: string; status: string } | undefined> {
  return one(
    db,
    sql`select requester_id as "requesterId", user_id as "userId", status from connections where id = ${connectionId}`,
  );
}

/**
 * PUT /chats/:id: sets the given fields and updated_at (the participants' activity_at copies
 * follow through refreshChatActivity, src/messages/activity.ts).
 */
export async function updateChat(
  tx: Db,
  chatId: string,
  fields: {
    name?: string;
    category?: string;
    tags?: { tag: string; label: string }[];
    restricted?: boolean;
    allowPublicPost?: boolean;
    photo?: string;
    photoKey?: string | null;
  },
): Promise<void> {
  const sets: SQL[] = [sql`updated_at = now()`];
  if (fields.name !== undefined) sets.push(sql`name = ${fields.name}`);
  if (fields.category !== undefined) sets.push(sql`category = ${fields.category}`);
  if (fields.tags !== undefined) sets.push(sql`tags = ${JSON.stringify(fields.tags)}::jsonb`);
  if (fields.restricted !== undefined) sets.push(sql`restricted = ${fields.restricted}`);
  if (fields.allowPublicPost !== undefined) sets.push(sql`allow_public_post = ${fields.allowPublicPost}`);
  if (fields.photo !== undefined) sets.push(sql`photo = ${fields.photo}`, sql`photo_key = ${fields.photoKey ?? null}`);
  await tx.execute(sql`update chats set ${sql.join(sets, sql`, `)} where id = ${chatId}`);
}

/** Storage keys of the chat's message files (url and cover objects that are ours). */
export async function messageFileKeys(db: Db, chatId: string): Promise<string[]> {
  const found = await rows<{ key: string }>(
    db,
    sql`select distinct unnest(storage_keys) as key from message_files where chat_id = ${chatId}`,
  );
  return found.map((r) => r.key);
}

/**
 * rulings.md 29: the chat and everything of it, in the caller's transaction. participants,
 * messages, message_files, join_requests and events cascade from chats; reels keep their row with
 * chat_id set null (FK); chats.event_id has no FK, so that event is deleted by id. Every former
 * participant gets a chat_removals row so a client catching up learns of the delete.
 */
export async function deleteChat(tx: Db, chatId: string, eventId: string | null): Promise<void> {
  await tx.execute(
    sql`insert into chat_removals (user_id, chat_id, removed_at)
        select user_id, chat_id, now() from participants where chat_id = ${chatId}
        on conflict (user_id, chat_id) do update set removed_at = excluded.removed_at`,
  );
  if (eventId) await tx.execute(sql`delete from events where id = ${eventId}`);
  await tx.execute(sql`delete from chats where id = ${chatId}`);
}

/** rulings.md 28: the viewer's lastReadAt becomes now. */
export async function markRead(tx: Db, participantId: string): Promise<{ lastReadAt: string; participantIds: string[] }> {
  const row = await one<{ lastReadAt: string; participantIds: string[] }>(
    tx,
    sql`update participants p set last_read_at = now() where p.id = ${participantId}
        returning iso(p.last_read_at) as "lastReadAt",
          (select json_agg(o.user_id) from participants o where o.chat_id = p.chat_id) as "participantIds"`,
  );
  return row!;
}
