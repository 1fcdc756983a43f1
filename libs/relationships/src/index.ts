export * from './relationships.module';
export * from './relationship.service';
export * from './contacts.service';
export { blockedEitherWaySql, mutualContactsSql } from './relationship-sql';
export type { BlockedUserDto } from './relationship-dtos';
