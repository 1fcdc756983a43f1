import crypto from 'node:crypto';
import { AppConfig, loadConfig, OffsetClock } from '@app/config';
import { DomainError } from '@app/contracts';
import { DatabasePool, migrate, PrismaService } from '@app/database';
import { RealtimeService } from '@app/realtime';
import { createTestDatabase, TestDatabase } from '@app/testing';
import { AuthService } from './auth.service';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenService } from './token.service';
import { UserRepository } from './user.repository';

const SECRET = 'revocation-spec-secret-0123456789';
const SKEW_MS = 5_000;

/** A token without a generation, as the previous version signed them: millisecond issue time only. */
function previousVersionToken(userId: string, issuedAtMs = Date.now()): string {
  const iat = Math.floor(issuedAtMs / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const payload = { sub: userId, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat, exp: iat + 600, iat_ms: issuedAtMs };
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return { code: err.code, message: err.message };
  }
}

const REVOKED = { code: 'UNAUTHENTICATED', message: 'token was revoked' };

/**
 * Revocation against the real database, with gateway processes whose clocks
 * disagree: each gateway is an AuthService with its own token clock and its
 * own connection pool on the one database.
 */
describe('token revocation by generation (PostgreSQL)', () => {
  let db: TestDatabase;
  let config: AppConfig;
  const pools: DatabasePool[] = [];
  const prismas: PrismaService[] = [];

  function gateway(skewMs: number): { auth: AuthService; tokens: TokenService; pool: DatabasePool } {
    const pool = new DatabasePool({ url: db.url, embedded: false }, config);
    const prisma = new PrismaService(pool);
    pools.push(pool);
    prismas.push(prisma);
    const tokens = new TokenService(config, new OffsetClock(skewMs));
    const auth = new AuthService(new UserRepository(prisma, pool), tokens, new RealtimeService(), config);
    return { auth, tokens, pool };
  }

  let onTime: ReturnType<typeof gateway>;
  let ahead: ReturnType<typeof gateway>;
  let behind: ReturnType<typeof gateway>;
  let handles = 0;
  // Each spec file has a database of its own, so a counter makes handles unique.
  const handle = () => `rev_${++handles}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: db.url, DATABASE_POOL_SIZE: '2' });
    onTime = gateway(0);
    ahead = gateway(SKEW_MS);
    behind = gateway(-SKEW_MS);
  });

  afterAll(async () => {
    await Promise.all(prismas.map((p) => p.$disconnect()));
    await Promise.all(pools.map((p) => p.end()));
    await db?.drop();
  });

  it('accepts a token issued after the revocation by a process whose clock is 5 s behind', async () => {
    const { user } = await onTime.auth.issueFor(handle());
    await ahead.auth.revokeTokens(user.id);
    const revokedAt = Date.now();

    const fresh = await behind.auth.issueFor(user.handle);
    expect(fresh.user.id).toBe(user.id);
    // Its issue time is before the revocation by the clocks: only the generation says it is newer.
    expect(onTime.tokens.verify(fresh.token)!.issuedAtMs).toBeLessThan(revokedAt);
    for (const p of [onTime, ahead, behind]) expect((await p.auth.authenticate(fresh.token)).id).toBe(user.id);
  });

  it('refuses a token issued before the revocation by a process whose clock is ahead', async () => {
    const before = await ahead.auth.issueFor(handle());
    expect((await onTime.auth.authenticate(before.token)).id).toBe(before.user.id);
    const revokedAt = Date.now();
    await behind.auth.revokeTokens(before.user.id);

    expect(onTime.tokens.verify(before.token)!.issuedAtMs).toBeGreaterThan(revokedAt);
    for (const p of [onTime, ahead, behind]) expect(await refusal(p.auth.authenticate(before.token))).toEqual(REVOKED);
    // auth:refresh with it is refused the same way.
    expect(await refusal(onTime.auth.refresh(before.user.id, before.token))).toEqual(REVOKED);
  });

  it('accepts a token of the previous version (no generation) until a revocation, and refuses it after', async () => {
    const { user } = await onTime.auth.issueFor(handle());
    const old = previousVersionToken(user.id);
    expect(onTime.tokens.verify(old)!.generation).toBeNull();
    expect((await onTime.auth.authenticate(old)).id).toBe(user.id);

    await onTime.auth.revokeTokens(user.id);
    expect(await refusal(onTime.auth.authenticate(old))).toEqual(REVOKED);
    // Even one stamped as issued after the revocation by a clock far ahead.
    const aheadOld = previousVersionToken(user.id, Date.now() + 60_000);
    expect(await refusal(behind.auth.authenticate(aheadOld))).toEqual(REVOKED);
  });

  it('still honours a revocation the previous version recorded, until the first revocation by generation', async () => {
    const { user } = await onTime.auth.issueFor(handle());
    const oldBefore = previousVersionToken(user.id, Date.now() - 1_000);
    const newBefore = await onTime.auth.issueFor(user.handle);
    // What the previous version's revoke did: an instant, by its own clock.
    await onTime.pool.query(`UPDATE users SET tokens_valid_after = $2 WHERE id = $1`, [user.id, new Date()]);
    const oldAfter = previousVersionToken(user.id, Date.now() + 1_000);

    expect(await refusal(onTime.auth.authenticate(oldBefore))).toEqual(REVOKED);
    expect(await refusal(onTime.auth.authenticate(newBefore.token))).toEqual(REVOKED);
    expect((await onTime.auth.authenticate(oldAfter)).id).toBe(user.id);

    // From the first revocation by generation on, the instant no longer counts: a token
    // signed behind the instant by a slow clock, but after this revocation, is accepted.
    await onTime.auth.revokeTokens(user.id);
    await onTime.pool.query(`UPDATE users SET tokens_valid_after = $2 WHERE id = $1`, [user.id, new Date(Date.now() + 60_000)]);
    const fresh = await behind.auth.issueFor(user.handle);
    expect((await onTime.auth.authenticate(fresh.token)).id).toBe(user.id);
    expect(await refusal(onTime.auth.authenticate(oldAfter))).toEqual(REVOKED);
  });

  it('each revocation refuses every token issued since the one before, and only those', async () => {
    const first = await onTime.auth.issueFor(handle());
    await onTime.auth.revokeTokens(first.user.id);
    const second = await ahead.auth.issueFor(first.user.handle);
    expect((await behind.auth.authenticate(second.token)).id).toBe(first.user.id);
    await behind.auth.revokeTokens(first.user.id);
    const third = await behind.auth.issueFor(first.user.handle);

    expect(onTime.tokens.verify(second.token)!.generation).toBe(1);
    expect(onTime.tokens.verify(third.token)!.generation).toBe(2);
    expect(await refusal(ahead.auth.authenticate(first.token))).toEqual(REVOKED);
    expect(await refusal(ahead.auth.authenticate(second.token))).toEqual(REVOKED);
    expect((await ahead.auth.authenticate(third.token)).id).toBe(first.user.id);
  });

  it('counts concurrent revocations exactly: none is lost to another', async () => {
    const { user } = await onTime.auth.issueFor(handle());
    await Promise.all([onTime, ahead, behind, onTime, ahead, behind, onTime].map((p) => p.auth.revokeTokens(user.id)));
    const next = await onTime.auth.issueFor(user.handle);
    expect(onTime.tokens.verify(next.token)!.generation).toBe(7);
  });

  it('issues under the generation of the row it finds, for logins racing a revocation', async () => {
    const { user } = await onTime.auth.issueFor(handle());
    const logins = [onTime, ahead, behind, onTime, ahead, behind].map((p) => p.auth.issueFor(user.handle));
    const revoked = behind.auth.revokeTokens(user.id);
    const issued = await Promise.all(logins);
    await revoked;
    // Whichever side of the revocation each login fell on, its token agrees with the database.
    for (const { token, user: u } of issued) {
      expect(u.id).toBe(user.id);
      const generation = onTime.tokens.verify(token)!.generation;
      expect([0, 1]).toContain(generation);
      const outcome = await refusal(onTime.auth.authenticate(token));
      expect(outcome).toEqual(generation === 1 ? undefined : REVOKED);
    }
  });

  it('creates a user on first use and leaves it as it is on later logins', async () => {
    const name = handle();
    const created = await onTime.auth.issueFor(name, 'First Name');
    const again = await behind.auth.issueFor(name, 'Other Name');
    expect(again.user).toEqual(created.user);
    expect(created.user).toEqual({ id: created.user.id, handle: name, displayName: 'First Name' });
    expect(await onTime.auth.getUserByHandle(name)).toEqual(created.user);
  });

  it('answers NOT_FOUND for revoking an unknown user or a string that is no id, without touching anyone', async () => {
    const { user, token } = await onTime.auth.issueFor(handle());
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-an-id', '', `${user.id}'--`]) {
      expect(await refusal(onTime.auth.revokeTokens(id))).toEqual({ code: 'NOT_FOUND', message: 'user not found' });
    }
    expect((await onTime.auth.authenticate(token)).id).toBe(user.id);
  });

  it('checks a burst of connects, revoked and valid mixed, with one read of the users', async () => {
    const users = await Promise.all([handle(), handle(), handle()].map((h) => ahead.auth.issueFor(h)));
    await onTime.auth.revokeTokens(users[2].user.id);
    const fresh = await behind.auth.issueFor(users[2].user.handle);
    const query = jest.spyOn(onTime.pool.pool, 'query');
    try {
      const tokens = [users[0].token, users[1].token, users[2].token, fresh.token, previousVersionToken(users[1].user.id)];
      const outcomes = await Promise.all(tokens.map((t) => refusal(onTime.auth.authenticate(t))));
      expect(outcomes).toEqual([undefined, undefined, REVOKED, undefined, undefined]);
      expect(query).toHaveBeenCalledTimes(1);
    } finally {
      query.mockRestore();
    }
  });
});
