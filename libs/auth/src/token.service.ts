import crypto from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { APP_CONFIG, AppConfig } from '@app/config';

const TOKEN_LIFETIME = '30d';

/** Signs and checks user tokens (HS256). */
@Injectable()
export class TokenService {
  // Without JWT_SECRET tokens are valid for this process's life only.
  private readonly secret: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.secret = config.jwtSecret ?? crypto.randomBytes(32).toString('hex');
  }

  sign(userId: string): string {
    return jwt.sign({}, this.secret, { subject: userId, expiresIn: TOKEN_LIFETIME, algorithm: 'HS256' });
  }

  /** The user id in a valid token, or null. */
  verify(token: string): string | null {
    try {
      const payload = jwt.verify(token, this.secret, { algorithms: ['HS256'] });
      return typeof payload === 'object' && typeof payload.sub === 'string' ? payload.sub : null;
    } catch {
      return null;
    }
  }
}
