-- Experiments: which value of a flag decided something for which user
-- (exposures), the call invites a flag judged (call attempts), and how long a
-- call's media took to start (set-up time), so a flag's report can compare
-- its variants.

-- Written by the calls side: milliseconds from the answer until both
-- participants were producing; null when that never happened.
ALTER TABLE "calls" ADD COLUMN "media_setup_ms" INTEGER;

-- One row per flag, user and value; batched upserts add to "count" and move
-- "last_at", so any number of processes write into the same rows. The
-- primary key also serves paging a flag's exposures by user.
CREATE TABLE "flag_exposures" (
    "flag_key" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "value" BOOLEAN NOT NULL,
    "first_at" TIMESTAMPTZ(3) NOT NULL,
    "last_at" TIMESTAMPTZ(3) NOT NULL,
    "count" INTEGER NOT NULL,

    CONSTRAINT "flag_exposures_pkey" PRIMARY KEY ("flag_key","user_id","value")
);

CREATE INDEX "flag_exposures_user_id_idx" ON "flag_exposures"("user_id");

ALTER TABLE "flag_exposures" ADD CONSTRAINT "flag_exposures_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- One call:invite judged by a flag, in the variant of the caller's value at
-- that moment. Caller and callee are not foreign keys: a refused invite may
-- name a user that does not exist.
CREATE TABLE "call_attempts" (
    "id" UUID NOT NULL,
    "flag_key" TEXT NOT NULL,
    "caller_id" UUID NOT NULL,
    "callee_id" UUID NOT NULL,
    "media" "call_media" NOT NULL,
    "flag_value" BOOLEAN NOT NULL,
    "outcome" TEXT NOT NULL,
    "error_code" TEXT,
    "call_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "call_attempts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "call_attempts_outcome_check" CHECK ("outcome" IN ('placed', 'refused'))
);

CREATE INDEX "call_attempts_flag_key_created_at_idx" ON "call_attempts"("flag_key", "created_at");

CREATE INDEX "call_attempts_call_id_idx" ON "call_attempts"("call_id");

ALTER TABLE "call_attempts" ADD CONSTRAINT "call_attempts_call_id_fkey" FOREIGN KEY ("call_id") REFERENCES "calls"("id") ON DELETE SET NULL ON UPDATE CASCADE;
