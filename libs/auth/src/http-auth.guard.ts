import crypto from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable, createParamDecorator } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError } from '@app/contracts';
import { AuthService, AuthUser } from './auth.service';

export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return m ? m[1] : undefined;
}

/** HTTP routes for signed-in users: sets `request.user`. */
@Injectable()
export class UserAuthGuard implements CanActivate {
  constructor(private readonly auth: AuthService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest();
    req.user = await this.auth.authenticate(bearerToken(req.headers.authorization));
    return true;
  }
}

/**
 * Admin routes: the bearer must be one of the admin tokens (ADMIN_TOKEN, named
 * "admin", and each of ADMIN_TOKENS); with none configured the admin API is
 * closed. `request.adminActor` is the name of the token that matched: who the
 * audit says acted.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest();
    const admins = this.config.adminTokens ?? (this.config.adminToken ? [{ name: 'admin', token: this.config.adminToken }] : []);
    if (admins.length === 0) throw new DomainError('FORBIDDEN', 'the admin API is off (no ADMIN_TOKEN or ADMIN_TOKENS configured)');
    const given = bearerToken(req.headers.authorization);
    if (!given) throw new DomainError('UNAUTHENTICATED', 'missing admin token');
    // Every token is compared (in constant time), so the time taken says nothing about which one came close.
    let actor: string | undefined;
    for (const admin of admins) if (sameSecret(given, admin.token) && actor === undefined) actor = admin.name;
    if (actor === undefined) throw new DomainError('FORBIDDEN', 'not an admin token');
    req.adminActor = actor;
    return true;
  }
}

/** The name of the admin token an admin request was authenticated with (set by AdminAuthGuard). */
export const AdminActor = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const actor = ctx.switchToHttp().getRequest().adminActor;
  if (typeof actor !== 'string') throw new DomainError('FORBIDDEN', 'not an admin request');
  return actor;
});

/**
 * POST /auth/tokens: the bearer must be AUTH_API_KEY (compared in constant
 * time). With no key configured the route does not exist.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.auth.apiKey;
    if (!expected) throw DomainError.notFound('route');
    const given = bearerToken(context.switchToHttp().getRequest().headers.authorization);
    if (!given || !sameSecret(given, expected)) throw new DomainError('UNAUTHENTICATED', 'missing or wrong API key');
    return true;
  }
}

/** Constant-time comparison: hashing first makes the lengths equal too. */
function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The signed-in user of an HTTP request or a socket. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => {
  if (ctx.getType() === 'ws') return ctx.switchToWs().getClient().data.user;
  return ctx.switchToHttp().getRequest().user;
});
