// The one schema. drizzle-kit generates the SQL migrations in ./drizzle from this file.
// Ids are 24-hex ObjectId strings made by the app (rulings.md 1). Timestamps are timestamptz(3):
// millisecond precision, so what is stored is exactly what the API shows (rulings.md 2).
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

// text, not char(24): a text[] parameter (textArray) then matches the column type and its index.
const id = (name = 'id') => text(name);
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });
const created = () => ts('created_at').notNull().defaultNow();
const updated = () => ts('updated_at').notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: id().primaryKey(),
    name: text('name').notNull(),
    username: text('username').notNull(),
    passwordHash: text('password_hash'),
    photo: text('photo'),
    score: integer('score').notNull().default(0),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`)],
);

export const follows = pgTable(
  'follows',
  {
    followerId: id('follower_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    followeeId: id('followee_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    createdAt: created(),
  },
  (t) => [primaryKey({ columns: [t.followerId, t.followeeId] }), index('follows_followee_idx').on(t.followeeId)],
);

export const blocks = pgTable(
  'blocks',
  {
    blockerId: id('blocker_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    blockedId: id('blocked_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    createdAt: created(),
  },
  (t) => [primaryKey({ columns: [t.blockerId, t.blockedId] }), index('blocks_blocked_idx').on(t.blockedId)],
);

/** Meet-me connections: requester asks, user (the addressee) accepts or rejects. */
export const connections = pgTable(
  'connections',
  {
    id: id().primaryKey(),
    requesterId: id('requester_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    status: text('status').notNull().default('pending'),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [
    check('connections_status_check', sql`${t.status} in ('pending','accepted','rejected')`),
    index('connections_requester_idx').on(t.requesterId, t.userId),
    index('connections_user_idx').on(t.userId, t.requesterId),
    // One live (pending or accepted) connection per pair, whichever side asked: a second request
    // racing the first fails here and is answered 409 CONNECTION_EXISTS.
    uniqueIndex('connections_live_pair_key')
      .on(sql`least(${t.requesterId}, ${t.userId})`, sql`greatest(${t.requesterId}, ${t.userId})`)
      .where(sql`${t.status} in ('pending','accepted')`),
  ],
);

export const devices = pgTable(
  'devices',
  {
    token: text('token').primaryKey(),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [
    check('devices_platform_check', sql`${t.platform} in ('android','ios','web')`),
    index('devices_user_idx').on(t.userId),
  ],
);

export const chats = pgTable(
  'chats',
  {
    id: id().primaryKey(),
    isGroup: boolean('is_group').notNull(),
    creatorId: id('creator_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    /** One-to-one: the other party named at creation (rulings.md 9). */
    userId: id('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** One-to-one only: "<smaller user id>:<larger user id>"; unique, so one chat per pair. */
    pairKey: text('pair_key'),
    meetMeId: id('meet_me_id').references(() => connections.id, { onDelete: 'set null' }),
    name: text('name'),
    category: text('category'),
    restricted: boolean('restricted').notNull().default(false),
    allowPublicPost: boolean('allow_public_post').notNull().default(true),
    photo: text('photo'),
    /** Storage key of the photo when it is one of ours, to delete it later. */
    photoKey: text('photo_key'),
    /**
     * The category's tags ([{tag, label}]) copied from config.catalog when the category is set
     * (rulings.md 14), so every chat view (socket payloads too) reads them without the config.
     */
    tags: jsonb('tags').notNull().default(sql`'[]'::jsonb`),
    eventId: id('event_id'),
    lastMessageId: id('last_message_id'),
    lastMessageAt: ts('last_message_at'),
    participantsCount: integer('participants_count').notNull().default(0),
    /**
     * A message into a chat of more than ACTIVITY_INLINE_MAX participants committed while its
     * participants' activity_at copies still hold the previous activity: they are rewritten right
     * after the commit (src/messages/activity.ts), after the message's socket events went out, and
     * the flag is cleared once every copy equals the chat's activity. A flag left set (the process died in between) is
     * found through chats_activity_pending_idx by the activity sweeper.
     */
    activityPending: boolean('activity_pending').notNull().default(false),
    /**
     * Moves with every statement that adds or removes the chat's participants rows, cascades
     * included: kept by the database itself (trigger participants_members_*, drizzle/0005). A
     * large chat's member ids are cached under it (src/messages/members.ts).
     */
    membersVersion: integer('members_version').notNull().default(0),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [
    uniqueIndex('chats_pair_key_key').on(t.pairKey),
    check('chats_pair_key_check', sql`(${t.isGroup}) = (${t.pairKey} is null)`),
    index('chats_group_updated_idx').on(t.updatedAt).where(sql`${t.isGroup}`),
    index('chats_creator_idx').on(t.creatorId),
    // GET /chats?meetMeOnly=true reads the (few) meet-me chats through it instead of scanning chats
    // (bench/explain-chats.ts); it also serves the FK's ON DELETE SET NULL from connections.
    index('chats_meet_me_idx').on(t.meetMeId).where(sql`${t.meetMeId} is not null`),
    index('chats_activity_pending_idx').on(t.id).where(sql`${t.activityPending}`),
  ],
);

/**
 * One row per user and chat (unique). activity_at and is_group are copies of the chat's values so
 * that the chat list of a user in 10,000 chats is an index range scan of (user_id, activity_at).
 */
export const participants = pgTable(
  'participants',
  {
    id: id().primaryKey(),
    chatId: id('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    isAdmin: boolean('is_admin').notNull().default(false),
    /** Event chats only: pending until an admin accepts or rejects (rulings.md 25). */
    status: text('status'),
    lastReadAt: ts('last_read_at').notNull().defaultNow(),
    joinedAt: ts('joined_at').notNull().defaultNow(),
    isGroup: boolean('is_group').notNull(),
    activityAt: ts('activity_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('participants_chat_user_key').on(t.chatId, t.userId),
    // is_group trails the sort key so that GET /chats?group= filters and counts inside the index
    // (index-only) instead of visiting the heap or scanning participants (bench/explain-chats.ts).
    index('participants_user_activity_idx').on(t.userId, t.activityAt.desc(), t.chatId.desc(), t.isGroup),
    index('participants_chat_admin_idx').on(t.chatId).where(sql`${t.isAdmin}`),
    index('participants_chat_joined_idx').on(t.chatId, t.joinedAt),
    check('participants_status_check', sql`${t.status} is null or ${t.status} in ('pending','accepted','rejected')`),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: id().primaryKey(),
    chatId: id('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    text: text('text'),
    at: ts('at').notNull().defaultNow(),
    editedAt: ts('edited_at'),
    /** Soft delete: the row stays so that clients catching up learn of the delete. */
    deletedAt: ts('deleted_at'),
    updatedAt: updated(),
  },
  (t) => [
    // Unread counts and keyset pages: only live messages, by time (DESIGN.md "Data that must stay fast").
    index('messages_chat_at_live_idx').on(t.chatId, t.at.desc(), t.id.desc()).where(sql`${t.deletedAt} is null`),
    index('messages_chat_updated_idx').on(t.chatId, t.updatedAt),
  ],
);

export const messageFiles = pgTable(
  'message_files',
  {
    id: id().primaryKey(),
    messageId: id('message_id').notNull().references(() => messages.id, { onDelete: 'cascade' }),
    chatId: id('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    at: ts('at').notNull(),
    position: integer('position').notNull(),
    url: text('url').notNull(),
    cover: text('cover'),
    meta: jsonb('meta'),
    tag: text('tag').notNull().default('others'),
    /** meta.mediaType when given, else derived from the file name (rulings.md 19). */
    mediaType: text('media_type').notNull(),
    /** Storage keys of url/cover when they are ours, deleted with the message. */
    storageKeys: text('storage_keys').array().notNull().default(sql`'{}'::text[]`),
  },
  (t) => [
    index('message_files_message_idx').on(t.messageId, t.position),
    // GET /chats/:id/files: newest message first, a message's files in the order sent (the spec
    // example lists one message's two files so), one index range scan in that order.
    index('message_files_chat_type_tag_idx').on(t.chatId, t.mediaType, t.tag, t.at.desc(), t.messageId.desc(), t.position),
  ],
);

export const events = pgTable(
  'events',
  {
    id: id().primaryKey(),
    chatId: id('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    creatorId: id('creator_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    startsAt: ts('starts_at').notNull(),
    endsAt: ts('ends_at').notNull(),
    status: text('status').notNull().default('active'),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [
    uniqueIndex('events_chat_key').on(t.chatId),
    check('events_status_check', sql`${t.status} in ('active','cancelled')`),
  ],
);

export const joinRequests = pgTable(
  'join_requests',
  {
    id: id().primaryKey(),
    chatId: id('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    status: text('status').notNull().default('pending'),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [
    // One pending request per user and chat: a second one is a 409. It ends as accepted when its
    // user becomes a participant by any way (trigger, drizzle/0007_settle_join_requests.sql).
    uniqueIndex('join_requests_pending_key').on(t.chatId, t.userId).where(sql`${t.status} = 'pending'`),
    index('join_requests_user_idx').on(t.userId, t.chatId),
    check('join_requests_status_check', sql`${t.status} in ('pending','accepted','rejected')`),
  ],
);

export const reels = pgTable(
  'reels',
  {
    id: id().primaryKey(),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    chatId: id('chat_id').references(() => chats.id, { onDelete: 'set null' }),
    description: text('description').notNull(),
    tag: text('tag').notNull(),
    video: text('video').notNull(),
    videoKey: text('video_key'),
    hashtags: text('hashtags').array().notNull().default(sql`'{}'::text[]`),
    isAnonymous: boolean('is_anonymous').notNull().default(false),
    views: integer('views').notNull().default(0),
    likes: integer('likes').notNull().default(0),
    superLikes: integer('super_likes').notNull().default(0),
    shares: integer('shares').notNull().default(0),
    comments: integer('comments').notNull().default(0),
    createdAt: created(),
    updatedAt: updated(),
  },
  (t) => [index('reels_chat_created_idx').on(t.chatId, t.createdAt.desc(), t.id.desc())],
);

export const reelReactions = pgTable(
  'reel_reactions',
  {
    reelId: id('reel_id').notNull().references(() => reels.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    createdAt: created(),
  },
  (t) => [
    primaryKey({ columns: [t.reelId, t.userId, t.kind] }),
    check('reel_reactions_kind_check', sql`${t.kind} in ('like','super-like','favorite')`),
  ],
);

export const scoreActions = pgTable(
  'score_actions',
  {
    id: id().primaryKey(),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    action: text('action').notNull(),
    points: integer('points').notNull(),
    /** What the action was about (a chat id for join-group-chat); '' when nothing. */
    ref: text('ref').notNull().default(''),
    at: ts('at').notNull().defaultNow(),
  },
  (t) => [
    index('score_actions_user_idx').on(t.userId, t.at.desc()),
  ],
);

/** Score actions awarded once per user and ref: the unique key makes a second award a no-op. */
export const scoreOnce = pgTable(
  'score_once',
  {
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    action: text('action').notNull(),
    ref: text('ref').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.action, t.ref] })],
);

/** Written in the same transaction as the change; delivered by the push worker after commit. */
export const pushOutbox = pgTable(
  'push_outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    chatId: id('chat_id'),
    title: text('title').notNull(),
    body: text('body').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    /** Device tokens already delivered to, so a retry never sends to them twice. */
    deliveredTokens: text('delivered_tokens').array().notNull().default(sql`'{}'::text[]`),
    sentAt: ts('sent_at'),
    failedAt: ts('failed_at'),
    lastError: text('last_error'),
    createdAt: created(),
  },
  (t) => [
    index('push_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.sentAt} is null and ${t.failedAt} is null`),
    // Finished rows by the time they finished: the worker's retention sweep (src/push/worker.ts).
    index('push_outbox_finished_idx')
      .on(sql`coalesce(${t.sentAt}, ${t.failedAt})`)
      .where(sql`${t.sentAt} is not null or ${t.failedAt} is not null`),
  ],
);

/** Storage objects to delete; a failed delete stays here and is retried (rulings.md 29). */
export const pendingObjectDeletes = pgTable(
  'pending_object_deletes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    key: text('key').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    createdAt: created(),
  },
  (t) => [index('pending_object_deletes_due_idx').on(t.nextAttemptAt)],
);

/** Chats a user stopped seeing (left, removed, deleted), so a client catching up learns of it. */
export const chatRemovals = pgTable(
  'chat_removals',
  {
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    chatId: id('chat_id').notNull(),
    removedAt: ts('removed_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.chatId] }), index('chat_removals_user_at_idx').on(t.userId, t.removedAt)],
);

/**
 * How many chats (and group chats) each user is a participant of: the `count` of GET /chats
 * without a search in one row, instead of counting a user's 10,000 memberships on every list
 * (bench/RESULTS.md P2). Kept by statement-level triggers on participants (drizzle/0003), so every
 * insert and delete, cascades included, counts; rows are locked in user_id order, so concurrent
 * membership writes never deadlock on them.
 */
export const userChatCounts = pgTable('user_chat_counts', {
  userId: id('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  chats: integer('chats').notNull().default(0),
  groups: integer('groups').notNull().default(0),
});
