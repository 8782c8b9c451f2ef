-- rulings.md 2: timestamps leave the database as ISO 8601 UTC with milliseconds
-- ("2025-09-25T10:52:56.333Z"), also inside json_build_object.
CREATE OR REPLACE FUNCTION iso(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
--> statement-breakpoint
-- rulings.md 8: a user as the API shows it, {_id, name, username, photo?} (photo omitted when unset).
CREATE OR REPLACE FUNCTION user_brief(u users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT jsonb_strip_nulls(jsonb_build_object('_id', u.id, 'name', u.name, 'username', u.username, 'photo', u.photo)) $$;
