import { Module } from '@nestjs/common';
import { AuthService } from './auth.service';
import { AdminAuthGuard, ApiKeyGuard, UserAuthGuard } from './http-auth.guard';
import { TokenService } from './token.service';
import { UserRepository } from './user.repository';

/** Users, tokens and the HTTP guards. Needs only the global database and config. */
@Module({
  providers: [AuthService, TokenService, UserRepository, UserAuthGuard, AdminAuthGuard, ApiKeyGuard],
  exports: [AuthService, UserRepository, UserAuthGuard, AdminAuthGuard, ApiKeyGuard],
})
export class AuthModule {}
