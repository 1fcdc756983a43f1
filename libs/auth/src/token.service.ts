import crypto, { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface TokenClaims {
  userId: string;
  /**
   * The user's token generation when the token was issued (the `gen` claim);
   * null for a token of the previous version, which had no such claim.
   */
  generation: number | null;
  /** Millisecond issue time (the signing process's clock): only revocations recorded by the previous version compare it. */
  issuedAtMs: number;
  expiresAt: Date;
}

// Far above any token this service issues; a longer one is refused before any work is done on it.
const MAX_TOKEN_LENGTH = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Who issues user tokens and who they are for: a token of another system signed with the same secret is refused. */
export const TOKEN_ISSUER = 'social-messaging-gateway';
export const TOKEN_AUDIENCE = 'social-messaging-clients';
const HEADER_PART = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/**
 * Signs and checks user tokens (HS256) that expire after AUTH_TOKEN_TTL_S.
 * Issue and expiry times are read from the injected Clock (the system's
 * wall clock in a running process).
 *
 * Signing and checking are both done here with node:crypto (one
 * implementation: what is signed is exactly what is checked; a JWT library's
 * verify also cost a fifth of a socket connect's CPU). Only HS256 is
 * accepted, whatever the header says (`none`, RS256 and other algorithms are
 * refused), the signature is compared in constant time, and `iss`/`aud` must
 * name this service.
 */
@Injectable()
export class TokenService {
  // Without JWT_SECRET tokens are valid for this process's life only.
  private readonly secret: string;
  /** The same secret as a key object made once: hashing with it skips re-importing the key per token. */
  private readonly key: KeyObject;
  private readonly ttlS: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.secret = config.jwtSecret ?? crypto.randomBytes(32).toString('hex');
    this.key = crypto.createSecretKey(Buffer.from(this.secret, 'utf8'));
    this.ttlS = config.auth.tokenTtlS;
  }

  /** A token of `userId` under the user's current token `generation`, read with the user. */
  sign(userId: string, generation: number): IssuedToken {
    const issuedAtMs = this.now();
    const iat = Math.floor(issuedAtMs / 1000);
    const exp = iat + this.ttlS;
    // iat_ms stays for processes of the previous version during a rolling upgrade, which revoke by time.
    const payload = { sub: userId, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat, exp, iat_ms: issuedAtMs, gen: generation };
    const input = `${HEADER_PART}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = crypto.createHmac('sha256', this.key).update(input).digest('base64url');
    return { token: `${input}.${signature}`, expiresAt: new Date(exp * 1000) };
  }

  /** The claims of a valid, unexpired token, or null. */
  verify(token: string): TokenClaims | null {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const [headerPart, payloadPart, signaturePart] = parts;
    if (!BASE64URL.test(headerPart) || !BASE64URL.test(payloadPart) || !BASE64URL.test(signaturePart)) return null;

    // The signature first: nothing of an unsigned token is looked at.
    const expected = crypto.createHmac('sha256', this.key).update(`${headerPart}.${payloadPart}`).digest('base64url');
    const given = Buffer.from(signaturePart, 'latin1');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, Buffer.from(expected, 'latin1'))) return null;

    const header = decodeJson(headerPart);
    // A header naming another algorithm is refused even though it was signed with our key.
    if (!header || header.alg !== 'HS256') return null;
    const payload = decodeJson(payloadPart);
    if (!payload || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return null;
    if (payload.iss !== TOKEN_ISSUER || !namesAudience(payload.aud)) return null;
    const nowS = Math.floor(this.now() / 1000);
    if (nowS >= payload.exp) return null;
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowS)) return null;
    // A generation that is there but no non-negative integer is no token of ours.
    if (payload.gen !== undefined && !(Number.isSafeInteger(payload.gen) && (payload.gen as number) >= 0)) return null;
    const generation = payload.gen === undefined ? null : (payload.gen as number);
    const issuedAtMs = typeof payload.iat_ms === 'number' ? payload.iat_ms : (typeof payload.iat === 'number' ? payload.iat : 0) * 1000;
    return { userId: payload.sub, generation, issuedAtMs, expiresAt: new Date(payload.exp * 1000) };
  }

  /** Milliseconds of the clock; a process whose clock is off is this returning something else. */
  private now(): number {
    return this.clock.now().getTime();
  }
}

/** `aud` is one string or a list of them (RFC 7519); ours must be among them. */
function namesAudience(aud: unknown): boolean {
  return aud === TOKEN_AUDIENCE || (Array.isArray(aud) && aud.length <= 8 && aud.includes(TOKEN_AUDIENCE));
}

/** A base64url JSON object, or null when it is not one. */
function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
