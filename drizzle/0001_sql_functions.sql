-- rulings.md 2: timestamps leave the database as ISO 8601 UTC with milliseconds
-- ("2025-09-25T10:52:56.333Z"), also inside json_build_object.
-- STABLE, as to_char is: PostgreSQL then inlines it into the calling statement; declared IMMUTABLE
-- it ran as a separate SQL-function call per value (~17% of GET /chats' database time,
-- bench/RESULTS.md "Plans").
CREATE OR REPLACE FUNCTION iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
--> statement-breakpoint
-- rulings.md 8: a user as the API shows it, {_id, name, username, photo?} (photo omitted when unset).
CREATE OR REPLACE FUNCTION user_brief(u users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT jsonb_strip_nulls(jsonb_build_object('_id', u.id, 'name', u.name, 'username', u.username, 'photo', u.photo)) $$;
--> statement-breakpoint
-- A message as the API shows it: the spec's lastMessage shape ({_id, user, chat, files, at} plus
-- text, editedAt, deletedAt when set). A file's cover/meta are omitted when unset; meta is kept
-- exactly as the sender gave it (its inner nulls too).
CREATE OR REPLACE FUNCTION message_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT jsonb_build_object('_id', m.id, 'chat', m.chat_id, 'at', iso(m.at))
    || CASE WHEN m.text IS NOT NULL THEN jsonb_build_object('text', m.text) ELSE '{}'::jsonb END
    || CASE WHEN m.edited_at IS NOT NULL THEN jsonb_build_object('editedAt', iso(m.edited_at)) ELSE '{}'::jsonb END
    || CASE WHEN m.deleted_at IS NOT NULL THEN jsonb_build_object('deletedAt', iso(m.deleted_at)) ELSE '{}'::jsonb END
    || jsonb_build_object(
         'user', (SELECT user_brief(u) FROM users u WHERE u.id = m.user_id),
         'files', COALESCE((
           SELECT jsonb_agg(
                    jsonb_build_object('url', f.url, '_id', f.id, 'tag', f.tag)
                    || CASE WHEN f.cover IS NOT NULL THEN jsonb_build_object('cover', f.cover) ELSE '{}'::jsonb END
                    || CASE WHEN f.meta IS NOT NULL THEN jsonb_build_object('meta', f.meta) ELSE '{}'::jsonb END
                    ORDER BY f.position)
           FROM message_files f WHERE f.message_id = m.id), '[]'::jsonb))
$$;
--> statement-breakpoint
-- GET /chats/explore/communities (rulings.md 16): the name search (ILIKE '%…%', at least 3
-- characters) of group chats reads this trigram index instead of scanning every group chat.
-- pg_trgm is a trusted contrib extension on PostgreSQL; PGlite gets it from its constructor
-- (pgliteExtensions in src/db/client.ts). Kept here, not in schema.ts, because drizzle-kit's
-- generated 0000 would create the index before the extension exists.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS chats_group_name_trgm_idx ON chats USING gin (name gin_trgm_ops) WHERE is_group;
