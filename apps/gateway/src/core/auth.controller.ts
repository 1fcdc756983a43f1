import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { AuthService, AuthUser, CurrentUser, UserAuthGuard } from '@app/auth';
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
