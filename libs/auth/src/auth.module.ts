import { Module } from '@nestjs/common';
import { RealtimeModule } from '@app/realtime';
import { AuthService } from './auth.service';
import { AdminAuthGuard, ApiKeyGuard, UserAuthGuard } from './http-auth.guard';
import { TokenService } from './token.service';
import { UserRepository } from './user.repository';

/** Users, tokens and the HTTP guards; realtime to close a user's sockets when their tokens are revoked. */
@Module({
  imports: [RealtimeModule],
  providers: [AuthService, TokenService, UserRepository, UserAuthGuard, AdminAuthGuard, ApiKeyGuard],
  exports: [AuthService, UserRepository, UserAuthGuard, AdminAuthGuard, ApiKeyGuard],
})
export class AuthModule {}
