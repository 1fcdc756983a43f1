import crypto from 'node:crypto';
import { AppConfig, Clock, ManualClock, OffsetClock, SystemClock } from '@app/config';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenService } from './token.service';

const SECRET = 'token-spec-secret-0123456789';
const TTL_S = 600;
const USER = '7d0b6f3e-4f1a-4c55-9a43-7a3b5c2d1e0f';

function service(secret: string | null = SECRET, clock: Clock = new SystemClock()): TokenService {
  return new TokenService({ jwtSecret: secret ?? undefined, auth: { tokenTtlS: TTL_S } } as unknown as AppConfig, clock);
}

const nowS = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const OURS = { iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE };
/** Our issuer and audience under an object payload (which may override or drop them with undefined). */
const withOurs = (payload: unknown) =>
  typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? { ...OURS, ...payload } : payload;

/** A token assembled by hand: any header, any payload, signed with HMAC-SHA256 under `key` unless a signature is given. */
function forge(header: unknown, payload: unknown, key = SECRET, signature?: string): string {
  const input = `${b64(header)}.${b64(withOurs(payload))}`;
  return `${input}.${signature ?? crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** A token signed with another HMAC hash or an RSA key. */
function forgeWith(alg: 'HS384' | 'HS512' | 'RS256', payload: unknown, key: string | crypto.KeyObject): string {
  const input = `${b64({ alg, typ: 'JWT' })}.${b64(withOurs(payload))}`;
  const signature =
    alg === 'RS256'
      ? crypto.sign('sha256', Buffer.from(input), key as crypto.KeyObject).toString('base64url')
      : crypto
          .createHmac(alg === 'HS384' ? 'sha384' : 'sha512', key as string)
          .update(input)
          .digest('base64url');
  return `${input}.${signature}`;
}

const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

describe('TokenService', () => {
  const tokens = service();

  it('verifies what it signs, with the user, the generation, the millisecond issue time and the expiry', () => {
    const before = Date.now();
    const issued = tokens.sign(USER, 3);
    const claims = tokens.verify(issued.token);
    expect(claims?.userId).toBe(USER);
    expect(claims?.generation).toBe(3);
    expect(claims?.issuedAtMs).toBeGreaterThanOrEqual(before);
    expect(claims?.issuedAtMs).toBeLessThanOrEqual(Date.now());
    expect(claims?.expiresAt).toEqual(issued.expiresAt);
  });

  it('accepts a token of ours without a generation (null, which revocation counts as 0), issue time from iat_ms or iat', () => {
    // One reading of the clock for the token and the expectation, so a second boundary between them does not matter.
    const iat = nowS();
    const token = forge({ alg: 'HS256', typ: 'JWT' }, { sub: USER, iat, exp: iat + 60, iat_ms: 1234 });
    expect(tokens.verify(token)).toEqual({
      userId: USER,
      generation: null,
      issuedAtMs: 1234,
      expiresAt: new Date((iat + 60) * 1000),
    });
    const old = forge({ alg: 'HS256' }, { sub: USER, iat: iat - 5, exp: iat + 60 });
    expect(tokens.verify(old)?.issuedAtMs).toBe((iat - 5) * 1000);
  });

  it('signs a standard HS256 JWT naming its issuer and audience', () => {
    const { token } = tokens.sign(USER, 0);
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payloadOf(token)).toMatchObject({ sub: USER, gen: 0, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE });
  });

  it('refuses a token signed with our secret but without our issuer or audience (another system sharing the secret)', () => {
    const exp = nowS() + 60;
    for (const claims of [
      { iss: undefined },
      { aud: undefined },
      { iss: 'someone-else' },
      { aud: 'another-service' },
      { aud: ['another-service'] },
      { aud: 42 },
    ]) {
      expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp, ...claims }))).toBeNull();
    }
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp, aud: ['x', TOKEN_AUDIENCE] }))).not.toBeNull();
  });

  it('carries the generation as the `gen` claim, generation 0 included', () => {
    for (const generation of [0, 1, 41, 2 ** 31 - 1]) {
      const { token } = tokens.sign(USER, generation);
      expect(payloadOf(token)).toMatchObject({ gen: generation });
      expect(tokens.verify(token)?.generation).toBe(generation);
    }
  });

  it('refuses a signed token whose generation is not a non-negative integer', () => {
    const exp = nowS() + 60;
    for (const gen of [-1, 1.5, '2', null, true, [1], { n: 1 }, Number.MAX_SAFE_INTEGER + 2]) {
      expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp, gen }))).toBeNull();
    }
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp, gen: 2 }))?.generation).toBe(2);
  });

  it('takes issue and expiry times from its own clock: a process whose clock is behind signs an older iat_ms', () => {
    const behind = service(SECRET, new OffsetClock(-5_000));
    const claims = tokens.verify(behind.sign(USER, 1).token);
    expect(claims?.issuedAtMs).toBeLessThanOrEqual(Date.now() - 5_000);
    expect(claims?.generation).toBe(1);
  });

  it('reads issue and expiry times from the injected clock only: a token lives exactly AUTH_TOKEN_TTL_S of it', () => {
    // Long before the system's time: a service reading the system's clock would find this token expired at once.
    const issuedAt = Date.UTC(2001, 0, 1, 12, 0, 0, 250);
    const clock = new ManualClock(issuedAt);
    const fixed = service(SECRET, clock);
    const issued = fixed.sign(USER, 2);
    expect(payloadOf(issued.token)).toMatchObject({ iat: Math.floor(issuedAt / 1000), iat_ms: issuedAt });
    expect(issued.expiresAt).toEqual(new Date(Math.floor(issuedAt / 1000) * 1000 + TTL_S * 1000));
    expect(fixed.verify(issued.token)).toEqual({ userId: USER, generation: 2, issuedAtMs: issuedAt, expiresAt: issued.expiresAt });

    // Valid until the clock reaches its expiry second, whatever the system's time says.
    clock.advance(issued.expiresAt.getTime() - issuedAt - 1);
    expect(fixed.verify(issued.token)?.userId).toBe(USER);
    clock.advance(1);
    expect(fixed.verify(issued.token)).toBeNull();
    // The same token under the system's clock: long expired.
    expect(tokens.verify(issued.token)).toBeNull();
  });

  it('judges nbf against the injected clock', () => {
    const clock = new ManualClock(Date.UTC(2030, 5, 1));
    const fixed = service(SECRET, clock);
    const at = Math.floor(clock.now().getTime() / 1000);
    const token = forge({ alg: 'HS256' }, { sub: USER, exp: at + 60, nbf: at + 30 });
    expect(fixed.verify(token)).toBeNull();
    clock.advance(30_000);
    expect(fixed.verify(token)?.userId).toBe(USER);
    clock.advance(30_000);
    expect(fixed.verify(token)).toBeNull();
  });

  it('refuses expired tokens, including one expiring this very second', () => {
    const header = { alg: 'HS256', typ: 'JWT' };
    expect(tokens.verify(forge(header, { sub: USER, iat: nowS() - 100, exp: nowS() - 1 }))).toBeNull();
    expect(tokens.verify(forge(header, { sub: USER, iat: nowS() - 100, exp: nowS() }))).toBeNull();
    expect(tokens.verify(forge(header, { sub: USER, iat: nowS(), exp: nowS() + 5 }))).not.toBeNull();
  });

  it('refuses a token not valid yet (nbf in the future) and a malformed nbf', () => {
    const header = { alg: 'HS256' };
    expect(tokens.verify(forge(header, { sub: USER, exp: nowS() + 60, nbf: nowS() + 30 }))).toBeNull();
    expect(tokens.verify(forge(header, { sub: USER, exp: nowS() + 60, nbf: 'soon' }))).toBeNull();
    expect(tokens.verify(forge(header, { sub: USER, exp: nowS() + 60, nbf: nowS() }))).not.toBeNull();
  });

  it('refuses a token signed with another key, and one signed by another process without JWT_SECRET', () => {
    const other = forge({ alg: 'HS256' }, { sub: USER, exp: nowS() + 60 }, 'another-secret-0123456789');
    expect(tokens.verify(other)).toBeNull();
    expect(service(null).verify(service(null).sign(USER, 0).token)).toBeNull();
  });

  it('refuses alg "none", whatever the case, with or without a signature', () => {
    const payload = { sub: USER, exp: nowS() + 60 };
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(withOurs(payload))}.`;
    expect(unsigned.endsWith('.')).toBe(true);
    expect(tokens.verify(unsigned)).toBeNull();
    for (const alg of ['none', 'None', 'NONE']) {
      expect(tokens.verify(`${b64({ alg })}.${b64(payload)}.`)).toBeNull();
      // Even with a valid HMAC under our key: the header must say HS256.
      expect(tokens.verify(forge({ alg }, payload))).toBeNull();
    }
  });

  it('refuses other algorithms: RS256 with any key, HS384/HS512, and an HS256 header over another hash', () => {
    const payload = { sub: USER, exp: nowS() + 60 };
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(tokens.verify(forgeWith('RS256', payload, privateKey))).toBeNull();
    // Key confusion: the attacker "signs" RS256 with the public key as HMAC secret, or claims RS256 over our HMAC.
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(tokens.verify(forge({ alg: 'RS256' }, payload, pem))).toBeNull();
    expect(tokens.verify(forge({ alg: 'RS256' }, payload))).toBeNull();
    expect(tokens.verify(forgeWith('HS384', payload, SECRET))).toBeNull();
    expect(tokens.verify(forgeWith('HS512', payload, SECRET))).toBeNull();
    const input = `${b64({ alg: 'HS256' })}.${b64(payload)}`;
    const hs512 = crypto.createHmac('sha512', SECRET).update(input).digest('base64url');
    expect(tokens.verify(`${input}.${hs512}`)).toBeNull();
  });

  it('refuses a token whose payload or header was changed after signing', () => {
    const { token } = tokens.sign(USER, 0);
    const [header, , signature] = token.split('.');
    const payload = b64({ sub: crypto.randomUUID(), exp: nowS() + 60 });
    expect(tokens.verify(`${header}.${payload}.${signature}`)).toBeNull();
    expect(tokens.verify(`${b64({ alg: 'HS256', kid: 'x' })}.${token.split('.')[1]}.${signature}`)).toBeNull();
    // A flipped last signature character, and padding or stray characters after it.
    const last = signature.at(-1) === 'A' ? 'B' : 'A';
    expect(tokens.verify(`${token.slice(0, -1)}${last}`)).toBeNull();
    expect(tokens.verify(`${token}=`)).toBeNull();
    expect(tokens.verify(`${token} `)).toBeNull();
  });

  it('refuses malformed tokens and claims without throwing', () => {
    const exp = nowS() + 60;
    for (const bad of ['', 'garbage', 'a.b', 'a.b.c.d', '..', '%%.%%.%%', 'x'.repeat(10_000)]) {
      expect(tokens.verify(bad)).toBeNull();
    }
    expect(tokens.verify(undefined as unknown as string)).toBeNull();
    // Signed with our key but not a JSON object, or missing the subject or the expiry.
    const input = `${Buffer.from('not json').toString('base64url')}.${b64({ sub: USER, exp })}`;
    expect(tokens.verify(`${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`)).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, [USER, exp]))).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, { exp }))).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: 42, exp }))).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER }))).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp: String(exp) }))).toBeNull();
    expect(tokens.verify(forge({ alg: 'HS256' }, { sub: USER, exp }))).not.toBeNull();
  });
});
