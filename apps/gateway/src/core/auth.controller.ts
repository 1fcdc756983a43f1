import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { AdminAuthGuard, ApiKeyGuard, AuthService, AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
import { schemas } from '@app/contracts';
import { ZodPipe } from '../common/zod.pipe';

@Controller()
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('auth/dev-login')
  @HttpCode(200)
  devLogin(@Body(new ZodPipe(schemas.devLoginBody, 'body')) body: schemas.DevLoginBody) {
    return this.auth.devLogin(body.handle, body.displayName);
  }

  /** Server to server: the operator's backend gets a token for one of its users. */
  @Post('auth/tokens')
  @HttpCode(200)
  @UseGuards(ApiKeyGuard)
  issueToken(@Body(new ZodPipe(schemas.issueTokenBody, 'body')) body: schemas.DevLoginBody) {
    return this.auth.issueFor(body.handle, body.displayName);
  }

  @Post('admin/users/:id/revoke-tokens')
  @HttpCode(200)
  @UseGuards(AdminAuthGuard)
  async revokeTokens(@Param('id', new ZodPipe(schemas.userIdParam, 'id')) userId: string) {
    await this.auth.revokeTokens(userId);
    return {};
  }

  @Get('users/me')
  @UseGuards(UserAuthGuard)
  me(@CurrentUser() user: AuthUser) {
    return this.auth.getUser(user.id);
  }

  @Get('users/by-handle/:handle')
  @UseGuards(UserAuthGuard)
  byHandle(@Param('handle', new ZodPipe(schemas.handleSchema, 'handle')) handle: string) {
    return this.auth.getUserByHandle(handle);
  }
}
