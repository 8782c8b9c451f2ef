CREATE TABLE "user_chat_counts" (
	"user_id" text PRIMARY KEY NOT NULL,
	"chats" integer DEFAULT 0 NOT NULL,
	"groups" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "user_chat_counts" ADD CONSTRAINT "user_chat_counts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- user_chat_counts is kept by the database itself (src/db/schema.ts): every statement that adds or
-- removes participants rows, cascades included, adjusts its users' counts once, with the rows
-- taken in user_id order (no deadlock between concurrent membership writes).
CREATE OR REPLACE FUNCTION participants_count_users() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO user_chat_counts AS c (user_id, chats, groups)
    SELECT user_id, count(*)::int, (count(*) FILTER (WHERE is_group))::int
    FROM inserted GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET chats = c.chats + excluded.chats, groups = c.groups + excluded.groups;
  ELSE
    -- Only rows that exist: a user deleted with their participants rows has no count left to keep.
    PERFORM 1 FROM user_chat_counts
    WHERE user_id IN (SELECT user_id FROM deleted) ORDER BY user_id FOR UPDATE;
    UPDATE user_chat_counts c SET chats = c.chats - d.n, groups = c.groups - d.g
    FROM (SELECT user_id, count(*)::int AS n, (count(*) FILTER (WHERE is_group))::int AS g
          FROM deleted GROUP BY user_id) d
    WHERE c.user_id = d.user_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER participants_counts_insert AFTER INSERT ON participants
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION participants_count_users();
--> statement-breakpoint
CREATE TRIGGER participants_counts_delete AFTER DELETE ON participants
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION participants_count_users();
--> statement-breakpoint
INSERT INTO user_chat_counts (user_id, chats, groups)
SELECT user_id, count(*)::int, (count(*) FILTER (WHERE is_group))::int FROM participants GROUP BY user_id;
