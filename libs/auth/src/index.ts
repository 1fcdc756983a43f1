export * from './auth.module';
export * from './auth.service';
export * from './http-auth.guard';
export { UserRepository } from './user.repository';
export { toUserDto } from './user-dto';
