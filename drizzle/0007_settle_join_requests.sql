-- A pending join request ends when its user becomes a participant by any way (joining an
-- unrestricted chat, added by an admin, a chat or event created with them): it is marked
-- accepted, so that explore's `request` (rulings.md 18: the viewer's *pending* request) never
-- shows beside `isJoined: true`, and an admin can no longer decide a request already fulfilled
-- (409). Accepting a request sets its status before adding the participant: nothing left here.
CREATE OR REPLACE FUNCTION participants_settle_join_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE join_requests r SET status = 'accepted', updated_at = now()
  FROM inserted i
  WHERE r.chat_id = i.chat_id AND r.user_id = i.user_id AND r.status = 'pending';
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER participants_settle_join_requests AFTER INSERT ON participants
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION participants_settle_join_requests();
--> statement-breakpoint
-- Requests left pending beside a participant before this migration.
UPDATE join_requests r SET status = 'accepted', updated_at = now()
FROM participants p
WHERE p.chat_id = r.chat_id AND p.user_id = r.user_id AND r.status = 'pending';
