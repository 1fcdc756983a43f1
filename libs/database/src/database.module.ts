import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { ROOT_LOGGER, Logger } from '@app/observability';
import { DATABASE_CONNECTION, DatabaseConnection } from './database-connection';
import { DatabaseLifecycle } from './database-lifecycle';
import { DatabaseMetrics } from './database-metrics';
import { DatabaseNotifications } from './database-notifications';
import { DatabasePool } from './database-pool';
import { EMBEDDED_DATABASE } from './database.tokens';
import { EmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres';
import { migrate } from './migrator';
import { PrismaService } from './prisma.service';

/** All database plumbing: the embedded server, migrations, the one pool, Prisma, LISTEN. Global: every capability stores something. */
@Global()
@Module({
  providers: [
    {
      provide: EMBEDDED_DATABASE,
      inject: [APP_CONFIG, ROOT_LOGGER],
      useFactory: async (config: AppConfig, logger: Logger): Promise<EmbeddedDatabase | null> =>
        config.databaseUrl ? null : startEmbeddedPostgres(config.embeddedPostgres, logger),
    },
    {
      provide: DATABASE_CONNECTION,
      inject: [APP_CONFIG, ROOT_LOGGER, EMBEDDED_DATABASE],
      useFactory: async (config: AppConfig, logger: Logger, embedded: EmbeddedDatabase | null): Promise<DatabaseConnection> => {
        const url = config.databaseUrl ?? embedded!.url;
        await migrate(url, { logger });
        return { url, embedded: embedded !== null };
      },
    },
    DatabasePool,
    PrismaService,
    DatabaseLifecycle,
    DatabaseNotifications,
    DatabaseMetrics,
  ],
  exports: [DATABASE_CONNECTION, DatabasePool, PrismaService, DatabaseLifecycle, DatabaseNotifications],
})
export class DatabaseModule {}
