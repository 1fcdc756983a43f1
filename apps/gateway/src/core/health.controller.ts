import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { HealthDto } from '@app/contracts';
import { DatabaseLifecycle } from '@app/database';
import { WorkerPool } from '@app/media';
import { MetricsService } from '@app/observability';

@Controller()
export class HealthController {
  constructor(
    private readonly database: DatabaseLifecycle,
    private readonly workers: WorkerPool,
    private readonly metrics: MetricsService,
  ) {}

  /** 200 when the database answers and every media worker is alive, else 503. */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    const db = (await this.database.isUp()) ? 'up' : 'down';
    const media = this.workers.isHealthy() ? 'up' : 'down';
    const body: HealthDto = {
      status: db === 'up' && media === 'up' ? 'ok' : 'degraded',
      db,
      media,
      workers: this.workers.state(),
    };
    res.status(body.status === 'ok' ? 200 : 503).json(body);
  }

  @Get('metrics')
  async prometheus(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  }
}
