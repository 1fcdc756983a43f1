import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { DomainError, UserDto } from '@app/contracts';
import { RealtimeService } from '@app/realtime';
import { TokenClaims, TokenService } from './token.service';
import { toUserDto } from './user-dto';
import { UserRepository } from './user.repository';

export interface AuthUser {
  id: string;
  /** When the token this request or socket was authenticated with expires. */
  tokenExpiresAt?: Date;
  /** What a revocation is judged on, kept so a connection can be checked again later. */
  credential?: Pick<TokenClaims, 'generation' | 'issuedAtMs'>;
}

export interface IssuedLogin {
  token: string;
  user: UserDto;
  expiresAt: string;
}

@Injectable()
export class AuthService {
  private readonly revocationListeners = new Set<(userId: string) => void>();

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
    const { token, expiresAt } = this.tokens.sign(user.id, user.tokenGeneration);
    return { token, user: toUserDto(user), expiresAt: expiresAt.toISOString() };
  }

  /** The user a bearer token names, when the token is valid, unexpired, unrevoked and the user exists. */
  async authenticate(token: string | undefined): Promise<AuthUser & { tokenExpiresAt: Date }> {
    const claims = token ? this.tokens.verify(token) : null;
    if (!claims) throw new DomainError('UNAUTHENTICATED', 'missing, invalid or expired token');
    const user = await this.users.findById(claims.userId);
    if (!user) throw new DomainError('UNAUTHENTICATED', 'token names an unknown user');
    if (isRevoked(claims, user)) throw new DomainError('UNAUTHENTICATED', 'token was revoked');
    return {
      id: user.id,
      tokenExpiresAt: claims.expiresAt,
      credential: { generation: claims.generation, issuedAtMs: claims.issuedAtMs },
    };
  }

  /**
   * Whether a connection authenticated earlier may stay: its user still
   * exists and no revocation happened since its token was issued. Read from
   * the database now, so a check made after the connection could be reached
   * by a revocation's broadcast cannot miss that revocation.
   */
  async stillValid(user: AuthUser): Promise<boolean> {
    if (!user.credential) return true;
    const row = await this.users.findById(user.id);
    return row !== null && !isRevoked(user.credential, row);
  }

  /** Runs `listener` with the user id after each revocation made by this process; returns the unsubscribe. */
  onRevoked(listener: (userId: string) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  /**
   * The user a token is signed for, checked by its signature and expiry only
   * (no database read): what per-user limits key on before the route's own,
   * full authentication runs. Null for anything else.
   */
  signedUserOf(token: string): string | null {
    return this.tokens.verify(token)?.userId.toLowerCase() ?? null;
  }

  /** `auth:refresh`: a newer token of the same user; its expiry (and credential) become the connection's. */
  async refresh(currentUserId: string, token: string): Promise<AuthUser & { tokenExpiresAt: Date }> {
    const next = await this.authenticate(token);
    if (next.id !== currentUserId) throw new DomainError('FORBIDDEN', 'the token belongs to another user');
    return next;
  }

  /**
   * Every token issued to the user until now is refused from now on, and the
   * user's sockets on every gateway process are disconnected.
   */
  async revokeTokens(userId: string): Promise<void> {
    if ((await this.users.advanceTokenGeneration(userId)) === null) throw DomainError.notFound('user');
    await this.realtime.disconnectUser(userId);
    // Listeners re-check the user's sockets on every process: one the broadcast missed is still found.
    for (const listener of this.revocationListeners) listener(userId);
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

/**
 * A token is revoked when it was issued under an older generation than the
 * user's: the comparison involves no clock, so it is exact whichever processes
 * signed, revoked and checked. A token without a generation (issued before
 * generations existed) counts as generation 0: it works until the user's first
 * revocation and is refused after it.
 *
 * `tokens_valid_after` is how the previous version recorded a revocation, by
 * the revoking process's clock. While the user's generation is still 0 no
 * revocation of this version has happened, so an instant there can only come
 * from that version (before the upgrade, or from one of its processes during
 * a rolling upgrade) and is honoured as it was, for every token; from the
 * first revocation on, the generation alone decides. Once no token older than
 * the upgrade can still be unexpired (AUTH_TOKEN_TTL_S after it) and no
 * process of the previous version runs, the column can be dropped.
 */
function isRevoked(
  claims: Pick<TokenClaims, 'generation' | 'issuedAtMs'>,
  user: { tokenGeneration: number; tokensValidAfter: Date | null },
): boolean {
  if ((claims.generation ?? 0) < user.tokenGeneration) return true;
  return user.tokenGeneration === 0 && user.tokensValidAfter !== null && claims.issuedAtMs <= user.tokensValidAfter.getTime();
}
