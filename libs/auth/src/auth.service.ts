import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError, UserDto } from '@app/contracts';
import { RealtimeService } from '@app/realtime';
import { TokenService } from './token.service';
import { toUserDto } from './user-dto';
import { UserRepository } from './user.repository';

export interface AuthUser {
  id: string;
  /** When the token this request or socket was authenticated with expires. */
  tokenExpiresAt?: Date;
}

export interface IssuedLogin {
  token: string;
  user: UserDto;
  expiresAt: string;
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UserRepository,
    private readonly tokens: TokenService,
    private readonly realtime: RealtimeService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Simulated login: no password, the handle is the identity. Off unless AUTH_DEV_LOGIN allows it. */
  async devLogin(handle: string, displayName?: string): Promise<IssuedLogin> {
    if (!this.config.auth.devLogin) throw DomainError.notFound('route');
    return this.issueFor(handle, displayName);
  }

  /**
   * A token for the operator's own backend to hand to one of its users (the
   * caller proved it holds AUTH_API_KEY). Creates the user on first use.
   */
  async issueFor(handle: string, displayName?: string): Promise<IssuedLogin> {
    const user = await this.users.findOrCreateByHandle(handle, displayName ?? handle);
    const { token, expiresAt } = this.tokens.sign(user.id);
    return { token, user: toUserDto(user), expiresAt: expiresAt.toISOString() };
  }

  /** The user a bearer token names, when the token is valid, unexpired, unrevoked and the user exists. */
  async authenticate(token: string | undefined): Promise<AuthUser & { tokenExpiresAt: Date }> {
    const claims = token ? this.tokens.verify(token) : null;
    if (!claims) throw new DomainError('UNAUTHENTICATED', 'missing, invalid or expired token');
    const user = await this.users.findById(claims.userId);
    if (!user) throw new DomainError('UNAUTHENTICATED', 'token names an unknown user');
    if (user.tokensValidAfter && claims.issuedAtMs <= user.tokensValidAfter.getTime()) {
      throw new DomainError('UNAUTHENTICATED', 'token was revoked');
    }
    return { id: user.id, tokenExpiresAt: claims.expiresAt };
  }

  /** `auth:refresh`: a newer token of the same user; its expiry becomes the connection's. */
  async refresh(currentUserId: string, token: string): Promise<Date> {
    const next = await this.authenticate(token);
    if (next.id !== currentUserId) throw new DomainError('FORBIDDEN', 'the token belongs to another user');
    return next.tokenExpiresAt;
  }

  /**
   * Every token issued to the user until now is refused from now on, and the
   * user's sockets on every gateway process are disconnected.
   */
  async revokeTokens(userId: string): Promise<void> {
    if (!(await this.users.refuseTokensIssuedUpTo(userId, new Date()))) throw DomainError.notFound('user');
    await this.realtime.disconnectUser(userId);
  }

  async getUser(id: string): Promise<UserDto> {
    const user = await this.users.findById(id);
    if (!user) throw DomainError.notFound('user');
    return toUserDto(user);
  }

  async getUserByHandle(handle: string): Promise<UserDto> {
    const user = await this.users.findByHandle(handle);
    if (!user) throw DomainError.notFound('user');
    return toUserDto(user);
  }
}
