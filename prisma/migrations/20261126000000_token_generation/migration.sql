-- A per-user counter that revocation increments and tokens carry: a token of
-- an older generation is refused, whatever the clocks of the processes that
-- signed it and revoked it. Every existing user starts at 0, which is also
-- what a token without the claim counts as, so tokens issued before this
-- migration keep working until the user's next revocation.
-- AlterTable
ALTER TABLE "users" ADD COLUMN     "token_generation" INTEGER NOT NULL DEFAULT 0;
