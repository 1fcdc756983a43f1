import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { HealthDto, LivenessDto, ReadinessDto } from '@app/contracts';
import { DatabaseLifecycle } from '@app/database';
import { WorkerPool } from '@app/media';
import { DrainState, MetricsService } from '@app/observability';

@Controller()
export class HealthController {
  constructor(
    private readonly database: DatabaseLifecycle,
    private readonly workers: WorkerPool,
    private readonly metrics: MetricsService,
    private readonly drain: DrainState,
  ) {}

  /** Liveness: the process answers. Nothing it depends on is asked, so an outage elsewhere never gets it restarted. */
  @Get('health/live')
  live(): LivenessDto {
    return { status: 'ok' };
  }

  /**
   * Readiness: whether to send this process new clients. 503 while the
   * database does not answer or the process drains before stopping.
   */
  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const draining = this.drain.draining;
    // A draining process answers at once: the point is to be taken out of rotation.
    const db = draining ? 'unknown' : (await this.database.isUp()) ? 'up' : 'down';
    const body: ReadinessDto = { ready: !draining && db === 'up', db, draining };
    res.status(body.ready ? 200 : 503).json(body);
  }

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
