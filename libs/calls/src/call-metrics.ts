import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { Clock } from '@app/config';
import type { CallEndReason } from '@app/contracts';
import { DURATION_BUCKETS, MetricsService } from '@app/observability';
import { CallRepository } from './call.repository';

/** Answer to both producing: tens of milliseconds for a plain-RTP client, seconds for a browser. */
const MEDIA_SETUP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** The active-call count is read from the database at most this often (a scrape never queues queries). */
const ACTIVE_COUNT_MAX_AGE_MS = 1_000;

export type CallSetupStep = 'invite' | 'accept' | 'join';

/**
 * The calls capability's Prometheus series. `calls_active` is the
 * service-wide count (every process reports the same number, read from the
 * database), so dashboards take its max, not its sum.
 */
@Injectable()
export class CallMetrics {
  private readonly ended;
  private readonly setupStep;
  private readonly mediaSetup;
  private readonly mediaRequest;
  private activeCount?: { at: number; value: Promise<number> };

  constructor(metrics: MetricsService, calls: CallRepository, clock: Clock) {
    this.ended = metrics.counter('calls_ended_total', 'calls ended, by end reason', ['reason']);
    this.setupStep = metrics.histogram(
      'call_setup_step_seconds',
      'server time of a call set-up request (invite, accept, join), by step and outcome',
      ['step', 'outcome'],
      DURATION_BUCKETS,
    );
    this.mediaSetup = metrics.histogram(
      'call_media_setup_seconds',
      'time from a call’s answer until both participants had a producer',
      [],
      MEDIA_SETUP_BUCKETS,
    );
    this.mediaRequest = metrics.histogram(
      'media_request_duration_seconds',
      'participants’ media requests as this process answered them, by event and outcome',
      ['event', 'outcome'],
      DURATION_BUCKETS,
    );
    if (!metrics.registry.getSingleMetric('calls_active')) {
      const activeCount = () => {
        const now = clock.now().getTime();
        if (!this.activeCount || now - this.activeCount.at >= ACTIVE_COUNT_MAX_AGE_MS) {
          this.activeCount = { at: now, value: calls.countActive().catch(() => -1) };
        }
        return this.activeCount.value;
      };
      new Gauge({
        name: 'calls_active',
        help: 'active calls in the whole service (the same figure from every process; -1 when the database did not answer)',
        registers: [metrics.registry],
        async collect() {
          this.set(await activeCount());
        },
      });
    }
  }

  callEnded(reason: CallEndReason): void {
    this.ended.inc({ reason });
  }

  mediaSetupMs(ms: number): void {
    this.mediaSetup.observe(ms / 1000);
  }

  /** Runs a set-up step, timing it by outcome (`ok` or the error code). */
  timeStep<T>(step: CallSetupStep, run: () => Promise<T>): Promise<T> {
    return timed(run, (outcome, seconds) => this.setupStep.observe({ step, outcome }, seconds));
  }

  /** Runs a participant's media request, timing it by event and outcome. */
  timeMediaRequest<T>(event: string, run: () => Promise<T>): Promise<T> {
    return timed(run, (outcome, seconds) => this.mediaRequest.observe({ event, outcome }, seconds));
  }
}

async function timed<T>(run: () => Promise<T>, record: (outcome: string, seconds: number) => void): Promise<T> {
  const started = process.hrtime.bigint();
  let outcome = 'ok';
  try {
    return await run();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    outcome = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'error';
    throw err;
  } finally {
    record(outcome, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
