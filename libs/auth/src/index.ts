export * from './auth.module';
export * from './auth.service';
export * from './http-auth.guard';
export { UserRepository, toUserDto } from './user.repository';
