-- AlterEnum
ALTER TYPE "call_end_reason" ADD VALUE 'blocked';

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "tokens_valid_after" TIMESTAMPTZ(3);

-- A conversation of a user with themselves is refused by the database too
-- (Prisma's schema cannot express CHECK constraints: see `@check` in schema.prisma).
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_distinct_users" CHECK ((user_low_id < user_high_id));
