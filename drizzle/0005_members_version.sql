ALTER TABLE "chats" ADD COLUMN "members_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- chats.members_version is kept by the database itself (src/db/schema.ts): every statement that
-- adds or removes participants rows, cascades included, moves the version of each chat it touched
-- once, with the chats taken in id order (no deadlock between concurrent membership writes). A
-- chat deleted in the same transaction (its participants cascade) has no row left to move.
CREATE OR REPLACE FUNCTION participants_members_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM 1 FROM chats WHERE id IN (SELECT chat_id FROM inserted) ORDER BY id FOR NO KEY UPDATE;
    UPDATE chats SET members_version = members_version + 1 WHERE id IN (SELECT chat_id FROM inserted);
  ELSE
    PERFORM 1 FROM chats WHERE id IN (SELECT chat_id FROM deleted) ORDER BY id FOR NO KEY UPDATE;
    UPDATE chats SET members_version = members_version + 1 WHERE id IN (SELECT chat_id FROM deleted);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER participants_members_insert AFTER INSERT ON participants
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION participants_members_version();
--> statement-breakpoint
CREATE TRIGGER participants_members_delete AFTER DELETE ON participants
  REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION participants_members_version();
