-- A per-user inbox order: every message takes the next position of its sender
-- and of its recipient, under that user's row lock, so each user's positions
-- commit in order and without gaps. dm:sync's cursor is then one position,
-- whatever the number of conversations.
ALTER TABLE "users" ADD COLUMN "inbox_seq" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "messages" ADD COLUMN "sender_inbox_seq" INTEGER;
ALTER TABLE "messages" ADD COLUMN "recipient_inbox_seq" INTEGER;

-- Messages stored before: numbered in the order dm:sync read them until now.
WITH inbox AS (
  SELECT id, user_id, role,
         row_number() OVER (PARTITION BY user_id ORDER BY created_at, conversation_id, seq, role) AS pos
    FROM (SELECT id, sender_id AS user_id, 's' AS role, created_at, conversation_id, seq FROM "messages"
          UNION ALL
          SELECT id, recipient_id, 'r', created_at, conversation_id, seq FROM "messages") AS x
)
UPDATE "messages" m
   SET sender_inbox_seq = s.pos, recipient_inbox_seq = r.pos
  FROM inbox s, inbox r
 WHERE s.id = m.id AND s.role = 's' AND r.id = m.id AND r.role = 'r';

UPDATE "users" u
   SET inbox_seq = x.top
  FROM (SELECT user_id, max(pos) AS top
          FROM (SELECT sender_id AS user_id, sender_inbox_seq AS pos FROM "messages"
                UNION ALL
                SELECT recipient_id, recipient_inbox_seq FROM "messages") AS y
         GROUP BY user_id) AS x
 WHERE u.id = x.user_id;

ALTER TABLE "messages" ALTER COLUMN "sender_inbox_seq" SET NOT NULL;
ALTER TABLE "messages" ALTER COLUMN "recipient_inbox_seq" SET NOT NULL;

CREATE INDEX "messages_sender_id_sender_inbox_seq_idx" ON "messages"("sender_id", "sender_inbox_seq");
CREATE INDEX "messages_recipient_id_recipient_inbox_seq_idx" ON "messages"("recipient_id", "recipient_inbox_seq");

-- Every insert is numbered here, whichever statement (or version of the
-- gateway) makes it. Statements of this version lock both users first, in id
-- order, before the conversation; these locks are then already held. A row
-- inserted with its positions set (a restore) keeps them.
CREATE FUNCTION messages_take_inbox_positions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.sender_inbox_seq IS NOT NULL AND NEW.recipient_inbox_seq IS NOT NULL THEN
    RETURN NEW;
  END IF;
  PERFORM 1 FROM "users" WHERE id IN (NEW.sender_id, NEW.recipient_id) ORDER BY id FOR NO KEY UPDATE;
  UPDATE "users" SET inbox_seq = inbox_seq + 1 WHERE id = NEW.sender_id RETURNING inbox_seq INTO NEW.sender_inbox_seq;
  UPDATE "users" SET inbox_seq = inbox_seq + 1 WHERE id = NEW.recipient_id RETURNING inbox_seq INTO NEW.recipient_inbox_seq;
  RETURN NEW;
END
$$;

CREATE TRIGGER messages_inbox_positions
  BEFORE INSERT ON "messages"
  FOR EACH ROW EXECUTE FUNCTION messages_take_inbox_positions();
