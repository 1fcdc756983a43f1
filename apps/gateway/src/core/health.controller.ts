import crypto from 'node:crypto';
import { Controller, Get, Headers, Inject, Optional, Res } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import type { Response } from 'express';
import { DomainError, HealthDto, LivenessDto, ReadinessDto } from '@app/contracts';
import { bearerToken } from '@app/auth';
import { DatabaseLifecycle } from '@app/database';
import { MediaNodeHost, WorkerPool } from '@app/media';
import { MediaCluster } from '@app/media-routing';
import { DrainState, MetricsService } from '@app/observability';
import { RedisConnections } from '@app/redis';

/** Media nodes are read from Redis at most this often for /health (the database has its own probe interval). */
const MEDIA_STATE_INTERVAL_MS = 1000;

/**
 * Health, readiness and metrics. Health answers come from state refreshed
 * at most once a second, never from work per request: anyone may ask, as
 * often as they like.
 */
@Controller()
export class HealthController {
  private mediaNodes?: { count: number; at: number };
  private readingNodes?: Promise<number>;

  constructor(
    private readonly metrics: MetricsService,
    private readonly drain: DrainState,
    private readonly cluster: MediaCluster,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
    // A media node (NODE_ROLE=media) has no database; a gateway (NODE_ROLE=gateway) has no workers.
    @Optional() private readonly database?: DatabaseLifecycle,
    @Optional() private readonly workers?: WorkerPool,
    @Optional() private readonly node?: MediaNodeHost,
    @Optional() private readonly redis?: RedisConnections,
  ) {}

  private async dbState(): Promise<'up' | 'down' | 'unused'> {
    if (!this.database) return 'unused';
    return (await this.database.isUp()) ? 'up' : 'down';
  }

  /** Live media nodes, as last read (at most once a second). */
  private liveNodeCount(): Promise<number> {
    const now = this.clock.now().getTime();
    if (this.mediaNodes && now - this.mediaNodes.at < MEDIA_STATE_INTERVAL_MS) return Promise.resolve(this.mediaNodes.count);
    this.readingNodes ??= this.cluster
      .liveNodes()
      .then(
        (nodes) => nodes.length,
        () => 0,
      )
      .then((count) => {
        this.mediaNodes = { count, at: this.clock.now().getTime() };
        this.readingNodes = undefined;
        return count;
      });
    return this.readingNodes;
  }

  /** Liveness: the process answers. Nothing it depends on is asked, so an outage elsewhere never gets it restarted. */
  @Get('health/live')
  live(): LivenessDto {
    return { status: 'ok' };
  }

  /**
   * Readiness: whether to send this process new clients. 503 while the
   * database does not answer, a required Redis connection (the socket.io
   * adapter's) is down, or the process drains before stopping.
   */
  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const draining = this.drain.draining;
    // A draining process answers at once: the point is to be taken out of rotation.
    const state = draining ? 'unknown' : await this.dbState();
    const db = state === 'unused' ? 'up' : state;
    const redis = this.redis?.state() ?? 'unused';
    const body: ReadinessDto = { ready: !draining && db === 'up' && redis !== 'down', db, draining };
    // Said only where Redis is used ('unused' is the field's absence, as before it existed).
    if (redis !== 'unused') body.redis = redis;
    res.status(body.ready ? 200 : 503).json(body);
  }

  /**
   * 200 when the database answers (where one is used) and media works: this
   * process's workers are all alive where it is a media node, or at least
   * one media node is alive where it is a gateway only. Else 503.
   */
  @Get('health')
  async health(@Res() res: Response): Promise<void> {
    const [db, mediaNodes] = await Promise.all([this.dbState(), this.liveNodeCount()]);
    const media = (this.workers ? this.workers.isHealthy() : mediaNodes > 0) ? 'up' : 'down';
    const body: HealthDto = {
      status: db !== 'down' && media === 'up' ? 'ok' : 'degraded',
      db,
      media,
      role: this.config.role,
      mediaNodes,
    };
    if (this.node) body.nodeId = this.node.nodeId;
    if (this.workers) body.workers = this.workers.state();
    res.status(body.status === 'ok' ? 200 : 503).json(body);
  }

  /** Prometheus text; with METRICS_TOKEN set, only for a request bearing it. */
  @Get('metrics')
  async prometheus(@Res() res: Response, @Headers('authorization') authorization: string | undefined): Promise<void> {
    const expected = this.config.metricsToken;
    if (expected !== undefined) {
      const given = bearerToken(authorization);
      if (!given) throw new DomainError('UNAUTHENTICATED', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
      const digest = (v: string) => crypto.createHash('sha256').update(v).digest();
      if (!crypto.timingSafeEqual(digest(given), digest(expected))) throw new DomainError('FORBIDDEN', 'not the metrics token');
    }
    const { contentType, body } = await this.metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  }
}
