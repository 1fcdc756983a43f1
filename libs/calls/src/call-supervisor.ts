import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, Clock } from '@app/config';
import { RelationshipService } from '@app/relationships';
import { Logger, ROOT_LOGGER } from '@app/observability';
import { RealtimeService } from '@app/realtime';
import type { CallRecord } from './call-record';
import { CallRepository } from './call.repository';
import { CallTimer, CallTimers } from './call-timers';
import { CallsService } from './calls.service';

// Calls handled at a time by the sweeps.
const SWEEP_PAGE = 100;
// The safety sweep: a call whose timer was never armed (its process died
// between storing the transition and arming it) still ends within about
// OVERDUE_SWEEP_MS + OVERDUE_LATENESS_MS of its deadline. One indexed query
// per process per interval, not per call; timers normally win long before.
export const OVERDUE_SWEEP_MS = 5_000;
const OVERDUE_LATENESS_MS = 2_000;

/**
 * Keeps the calls of this process's database moving when no user acts: runs
 * due timers through the state machine, starts and stops a participant's
 * disconnect grace as their sockets come and go, ends calls whose
 * participants blocked each other, and at start-up ends what fell due while
 * no process ran and re-arms the rest,
 * then sweeps for overdue calls in case a timer was lost. Decides nothing
 * itself: every transition is the state machine's (CallsService).
 */
@Injectable()
export class CallSupervisor implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private overdueSweep?: NodeJS.Timeout;
  private readonly logger: Logger;

  constructor(
    private readonly calls: CallsService,
    private readonly repository: CallRepository,
    private readonly timers: CallTimers,
    private readonly realtime: RealtimeService,
    private readonly relationships: RelationshipService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'call-supervisor' });
  }

  async onModuleInit(): Promise<void> {
    this.timers.onDue((timer) => this.onTimerDue(timer));
    this.realtime.onUserOffline((userId) => this.onParticipantOffline(userId));
    this.realtime.onUserOnline((userId) => this.onParticipantOnline(userId));
    this.relationships.onBlocked(async (blockerId, blockedId) => {
      await this.calls.endForBlock(blockerId, blockedId);
    });
  }

  /** After a restart: what fell due while no process ran is ended now; the rest is re-armed. */
  async onApplicationBootstrap(): Promise<void> {
    await this.endOverdueCalls(this.clock.now());
    await this.rearmLiveCalls();
    this.overdueSweep = setInterval(() => {
      const cutoff = new Date(this.clock.now().getTime() - OVERDUE_LATENESS_MS);
      this.endOverdueCalls(cutoff).catch((err) => this.logger.error({ err }, 'overdue sweep failed'));
    }, OVERDUE_SWEEP_MS);
    this.overdueSweep.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.overdueSweep);
  }

  private async onTimerDue(timer: CallTimer): Promise<void> {
    switch (timer.kind) {
      case 'ring-timeout':
        await this.calls.expireRing(timer.callId);
        return;
      case 'cap-warning':
        await this.calls.warnCapEnding(timer.callId);
        return;
      case 'cap':
        await this.calls.endForCap(timer.callId);
        return;
      case 'disconnect-grace':
        await this.calls.endIfStillDisconnected(timer.callId, timer.userId);
        return;
    }
  }

  private async onParticipantOffline(userId: string): Promise<void> {
    const call = await this.repository.liveCallOf(userId);
    if (!call) return;
    const at = new Date(this.clock.now().getTime() + this.config.calls.reconnectGraceMs);
    await this.timers.armDisconnectGrace(call.id, userId, at);
  }

  private async onParticipantOnline(userId: string): Promise<void> {
    const call = await this.repository.liveCallOf(userId);
    if (call) await this.timers.disarmDisconnectGrace(call.id, userId);
  }

  /** Ends, at their deadline, live calls whose deadline is at or before `cutoff`. */
  private async endOverdueCalls(cutoff: Date): Promise<void> {
    let total = 0;
    for (;;) {
      const overdue = await this.repository.overdue(cutoff, SWEEP_PAGE);
      if (overdue.length === 0) break;
      await Promise.all(overdue.map((call) => this.calls.endOverdue(call)));
      total += overdue.length;
    }
    if (total > 0) this.logger.info({ calls: total }, 'ended overdue calls whose timers had not run');
  }

  /**
   * Timers are durable already; this re-arms them in case a process died
   * between storing a transition and arming its timer. Every participant
   * also gets a fresh grace period: sockets of a crashed process are gone
   * without a disconnect event, and those who do not come back end the call.
   */
  private async rearmLiveCalls(): Promise<void> {
    const graceEnds = new Date(this.clock.now().getTime() + this.config.calls.reconnectGraceMs);
    let afterId: string | null = null;
    let total = 0;
    for (;;) {
      const page: CallRecord[] = await this.repository.livePage(afterId, SWEEP_PAGE);
      if (page.length === 0) break;
      await Promise.all(
        page.map(async (call) => {
          try {
            if (call.state === 'ringing') await this.timers.armRingTimeout(call);
            else await this.timers.armCap(call, this.config.calls.warningBeforeMs);
            // Whether they are back is checked when the grace ends (asking other processes now may time out).
            for (const userId of [call.callerId, call.calleeId]) {
              await this.timers.armDisconnectGrace(call.id, userId, graceEnds);
            }
          } catch (err) {
            this.logger.error({ err, callId: call.id }, 'updating call timers failed');
          }
        }),
      );
      afterId = page[page.length - 1].id;
      total += page.length;
    }
    if (total > 0) this.logger.info({ calls: total }, 're-armed timers of live calls');
  }
}
