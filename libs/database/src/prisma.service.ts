import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client';
import { DatabasePool } from './database-pool';

/** The one Prisma client of the process, on the shared pool. Only repositories use it. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(pool: DatabasePool) {
    // The pool is the database module's: disconnecting Prisma leaves it open for the others.
    super({ adapter: new PrismaPg(pool.pool, { disposeExternalPool: false }) });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
