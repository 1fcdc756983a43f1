import { Injectable } from '@nestjs/common';
import { DomainError, UserDto } from '@app/contracts';
import { TokenService } from './token.service';
import { UserRepository, toUserDto } from './user.repository';

export interface AuthUser {
  id: string;
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UserRepository,
    private readonly tokens: TokenService,
  ) {}

  /** Simulated login: no password; the handle is the identity. */
  async devLogin(handle: string, displayName?: string): Promise<{ token: string; user: UserDto }> {
    const user = await this.users.findOrCreateByHandle(handle, displayName ?? handle);
    return { token: this.tokens.sign(user.id), user: toUserDto(user) };
  }

  /** The user a bearer token names, when the token is valid and the user exists. */
  async authenticate(token: string | undefined): Promise<AuthUser> {
    const userId = token ? this.tokens.verify(token) : null;
    if (!userId) throw new DomainError('UNAUTHENTICATED', 'missing or invalid token');
    const user = await this.users.findById(userId);
    if (!user) throw new DomainError('UNAUTHENTICATED', 'token names an unknown user');
    return { id: user.id };
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
