-- dm:sync reads a user's messages by inbox position since the inbox order
-- came in (messages_recipient_id_recipient_inbox_seq_idx); nothing reads them
-- by recipient and time any more. Every message written still paid for this
-- index: one more entry to insert and log.
DROP INDEX IF EXISTS "messages_recipient_id_created_at_idx";
