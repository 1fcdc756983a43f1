import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { MetricsService } from '@app/observability';
import { DatabaseNotifications } from './database-notifications';
import { DatabasePool } from './database-pool';

/** The PostgreSQL connections this process holds, read at each scrape of /metrics. */
@Injectable()
export class DatabaseMetrics {
  constructor(metrics: MetricsService, pool: DatabasePool, notifications: DatabaseNotifications) {
    if (metrics.registry.getSingleMetric('db_connections')) return;
    new Gauge({
      name: 'db_connections',
      help: 'PostgreSQL connections held by this process: the shared pool (in use, idle) and the LISTEN connection',
      labelNames: ['use'] as const,
      registers: [metrics.registry],
      collect() {
        const held = pool.connections();
        this.set({ use: 'pool_busy' }, held.total - held.idle);
        this.set({ use: 'pool_idle' }, held.idle);
        this.set({ use: 'listen' }, notifications.isConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'db_pool_waiting',
      help: 'queries waiting for a connection of the shared pool',
      registers: [metrics.registry],
      collect() {
        this.set(pool.connections().waiting);
      },
    });
  }
}
