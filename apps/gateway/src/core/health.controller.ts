import { Controller, Get, Inject, Optional, Res } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import type { Response } from 'express';
import type { HealthDto, LivenessDto, ReadinessDto } from '@app/contracts';
import { DatabaseLifecycle } from '@app/database';
import { MediaCluster, MediaNodeHost, WorkerPool } from '@app/media';
import { DrainState, MetricsService } from '@app/observability';

@Controller()
export class HealthController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly drain: DrainState,
    private readonly cluster: MediaCluster,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    // A media node (NODE_ROLE=media) has no database; a gateway (NODE_ROLE=gateway) has no workers.
    @Optional() private readonly database?: DatabaseLifecycle,
    @Optional() private readonly workers?: WorkerPool,
    @Optional() private readonly node?: MediaNodeHost,
  ) {}

  private async dbState(): Promise<'up' | 'down' | 'unused'> {
    if (!this.database) return 'unused';
    return (await this.database.isUp()) ? 'up' : 'down';
  }

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
    const state = draining ? 'unknown' : await this.dbState();
    const db = state === 'unused' ? 'up' : state;
    const body: ReadinessDto = { ready: !draining && db === 'up', db, draining };
    res.status(body.ready ? 200 : 503).json(body);
  }

  /**
   * 200 when the database answers (where one is used) and media works: this
   * process's workers are all alive where it is a media node, or at least
   * one media node is alive where it is a gateway only. Else 503.
   */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    const db = await this.dbState();
    const nodes = await this.cluster.liveNodes();
    const media = (this.workers ? this.workers.isHealthy() : nodes.length > 0) ? 'up' : 'down';
    const body: HealthDto = {
      status: db !== 'down' && media === 'up' ? 'ok' : 'degraded',
      db,
      media,
      role: this.config.role,
      mediaNodes: nodes.length,
    };
    if (this.node) body.nodeId = this.node.nodeId;
    if (this.workers) body.workers = this.workers.state();
    res.status(body.status === 'ok' ? 200 : 503).json(body);
  }

  @Get('metrics')
  async prometheus(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  }
}
