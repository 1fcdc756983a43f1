import crypto from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { APP_CONFIG, AppConfig } from '@app/config';

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface TokenClaims {
  userId: string;
  /** Millisecond issue time: revocation compares it with the user's "valid after" instant. */
  issuedAtMs: number;
  expiresAt: Date;
}

/**
 * Signs and checks user tokens (HS256) that expire after AUTH_TOKEN_TTL_S.
 * Token times are wall-clock time, not the domain clock that tests move.
 */
@Injectable()
export class TokenService {
  // Without JWT_SECRET tokens are valid for this process's life only.
  private readonly secret: string;
  private readonly ttlS: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.secret = config.jwtSecret ?? crypto.randomBytes(32).toString('hex');
    this.ttlS = config.auth.tokenTtlS;
  }

  sign(userId: string): IssuedToken {
    const issuedAtMs = Date.now();
    const iat = Math.floor(issuedAtMs / 1000);
    const token = jwt.sign({ iat, iat_ms: issuedAtMs }, this.secret, {
      subject: userId,
      expiresIn: this.ttlS,
      algorithm: 'HS256',
    });
    return { token, expiresAt: new Date((iat + this.ttlS) * 1000) };
  }

  /** The claims of a valid, unexpired token, or null. */
  verify(token: string): TokenClaims | null {
    try {
      const payload = jwt.verify(token, this.secret, { algorithms: ['HS256'] });
      if (typeof payload !== 'object' || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return null;
      const issuedAtMs = typeof payload.iat_ms === 'number' ? payload.iat_ms : (payload.iat ?? 0) * 1000;
      return { userId: payload.sub, issuedAtMs, expiresAt: new Date(payload.exp * 1000) };
    } catch {
      return null;
    }
  }
}
