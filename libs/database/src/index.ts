export * from './database-connection';
export * from './database-lifecycle';
export * from './database-notifications';
export * from './database.module';
export * from './migrator';
export * from './prisma.service';
export * from './project-root';
export { Prisma } from './generated/prisma/client';
export type * as Db from './generated/prisma/client';
