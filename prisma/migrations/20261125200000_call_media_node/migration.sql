-- Where each active call's media room lives, so any gateway can route to it
-- and a room whose node is lost can be opened again elsewhere.
ALTER TABLE "calls" ADD COLUMN "media_node_id" TEXT;

CREATE INDEX "calls_state_media_node_id_idx" ON "calls"("state", "media_node_id");
