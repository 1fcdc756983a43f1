import crypto from 'node:crypto';
import pino from 'pino';
import { AppConfig, Clock, loadConfig } from '@app/config';
import type { CallState, MediaStatsDto, ServerEventName, ServerEvents } from '@app/contracts';
import type { CallAttempt, ExperimentLog, FlagsService } from '@app/flags';
import type { MediaCluster, MediaNodeStatus } from '@app/media-routing';
import type { DirectMessagesService } from '@app/messaging';
import type { RelationshipService } from '@app/relationships';
import { MetricsService } from '@app/observability';
import type { PresenceListener, RealtimeService } from '@app/realtime';
import type { DurableScheduler, TimerChanges, TimerHandler } from '@app/scheduler';
import { callRecord, CallRecord } from '../../libs/calls/src/call-record';
import { CallEnd, CallRepository, InviteRefusal, NewCall } from '../../libs/calls/src/call.repository';
import type { CallMediaService, MediaRestartReason } from '../../libs/calls/src/call-media.service';
import { CallMediaRecovery } from '../../libs/calls/src/call-media-recovery';
import { CallSupervisor } from '../../libs/calls/src/call-supervisor';
import { CallTimers } from '../../libs/calls/src/call-timers';
import { CallsService } from '../../libs/calls/src/calls.service';
import { CallMetrics } from '../../libs/calls/src/call-metrics';

/** The public surface of a class: what a fake must provide for the compiler to accept it in its place. */
type PublicOf<T> = { [K in keyof T]: T[K] };

/**
 * Time as the fake timers see it: with Jest's fake timers `Date` is virtual,
 * so this clock reads the virtual time, and a timer callback sees exactly
 * its own due time.
 */
export class VirtualClock extends Clock {
  now(): Date {
    return new Date(Date.now());
  }
}

/**
 * The durable scheduler's contract on setTimeout (faked in the specs): one
 * pending timer per key, arming twice keeps the first, a timer that ran
 * stays known until disarmed. `loseArms` drops every arm, as a process
 * dying between a transition and its timer would.
 */
export class VirtualScheduler implements Partial<PublicOf<DurableScheduler>> {
  loseArms = false;
  readonly failures: unknown[] = [];
  private readonly handlers = new Map<string, TimerHandler<object>>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly ran = new Set<string>();

  define<T extends object>(queue: string, handler: TimerHandler<T>): void {
    this.handlers.set(queue, handler as TimerHandler<object>);
  }

  async arm<T extends object>(queue: string, key: string, at: Date, data: T): Promise<void> {
    const id = `${queue}/${key}`;
    if (this.loseArms || this.pending.has(id) || this.ran.has(id)) return;
    const timer = setTimeout(
      () => {
        this.pending.delete(id);
        this.ran.add(id);
        this.handlers.get(queue)!(data).catch((err) => this.failures.push(err));
      },
      Math.max(0, at.getTime() - Date.now()),
    );
    this.pending.set(id, timer);
  }

  async armMany<T extends object>(queue: string, timers: { key: string; at: Date; data: T }[]): Promise<void> {
    for (const t of timers) await this.arm(queue, t.key, t.at, t.data);
  }

  async rearm<T extends object>(queue: string, key: string, at: Date, data: T): Promise<void> {
    await this.disarm(queue, key);
    await this.arm(queue, key, at, data);
  }

  async disarm(queue: string, keys: string | string[]): Promise<void> {
    for (const key of Array.isArray(keys) ? keys : [keys]) {
      const id = `${queue}/${key}`;
      clearTimeout(this.pending.get(id));
      this.pending.delete(id);
      this.ran.delete(id);
    }
  }

  pendingCount(): number {
    return this.pending.size;
  }
}

/**
 * The calls table and call slots in memory, with the same conditional updates
 * as the SQL; libs/calls/src/call.repository.spec.ts runs the same cases against
 * both, so this copy cannot drift from CallRepository unnoticed.
 */
export class InMemoryCallRepository implements PublicOf<CallRepository> {
  readonly rows = new Map<string, CallRecord>();
  private readonly slots = new Map<string, string>();

  /** `scheduler`: where the timers a transition stores with it go (none kept without one). */
  constructor(private readonly scheduler?: Pick<VirtualScheduler, 'armMany' | 'disarm'>) {}

  /** Users, blocks and contacts are not modelled here: every pair may call. */
  async createRinging(
    input: NewCall & { videoAllowed: boolean },
    timers?: (call: CallRecord) => TimerChanges,
  ): Promise<CallRecord | InviteRefusal> {
    if (!input.videoAllowed) return 'video_disabled';
    if (this.slots.has(input.callerId) || this.slots.has(input.calleeId)) return 'busy';
    const { videoAllowed: _, ...call } = input;
    const row = this.insert({ ...call, id: crypto.randomUUID(), state: 'ringing' });
    await this.storeTimers(timers?.({ ...row }));
    return row;
  }

  /** The timers of a transition that happened, as the SQL stores them in its statement. */
  private async storeTimers(changes?: TimerChanges): Promise<void> {
    if (!changes || !this.scheduler) return;
    if (changes.disarm.length > 0) await this.scheduler.disarm(changes.queue, changes.disarm);
    if (changes.arm.length > 0) await this.scheduler.armMany(changes.queue, changes.arm);
  }

  /** A row as a crashed process may have left it (for start-up tests). */
  insert(call: Partial<CallRecord> & Pick<CallRecord, 'id' | 'callerId' | 'calleeId' | 'state' | 'createdAt'>): CallRecord {
    const row = callRecord(call);
    this.rows.set(row.id, row);
    if (row.state !== 'ended') {
      this.slots.set(row.callerId, row.id);
      this.slots.set(row.calleeId, row.id);
    }
    return { ...row };
  }

  async findById(id: string): Promise<CallRecord | null> {
    return this.copy(this.rows.get(id));
  }

  async findRinging(callerId: string, calleeId: string): Promise<CallRecord | null> {
    return this.copy([...this.rows.values()].find((c) => c.callerId === callerId && c.calleeId === calleeId && c.state === 'ringing'));
  }

  async liveCallOf(userId: string): Promise<CallRecord | null> {
    const id = this.slots.get(userId);
    return id ? this.copy(this.rows.get(id)) : null;
  }

  async markActive(id: string, answeredAt: Date, maxEndsAt: Date, mediaNodeId: string, timers: TimerChanges): Promise<CallRecord | null> {
    const active = this.changeIf(id, (c) => c.state === 'ringing', { state: 'active', answeredAt, maxEndsAt, mediaNodeId });
    if (active) await this.storeTimers(timers);
    return active;
  }

  async moveMedia(id: string, fromNodeId: string | null, toNodeId: string): Promise<CallRecord | null> {
    return this.changeIf(id, (c) => c.state === 'active' && c.mediaNodeId === fromNodeId, { mediaNodeId: toNodeId });
  }

  async activeOffNodes(liveNodeIds: string[], limit: number): Promise<CallRecord[]> {
    return this.active((c) => c.mediaNodeId === null || !liveNodeIds.includes(c.mediaNodeId), limit);
  }

  async activeOnNode(nodeId: string, limit: number): Promise<CallRecord[]> {
    return this.active((c) => c.mediaNodeId === nodeId, limit);
  }

  async activeVideoPage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return this.active(
      (c) => c.media === 'video' && (afterId === null || c.id > afterId),
      limit,
      (a, b) => (a.id < b.id ? -1 : 1),
    );
  }

  /** Active calls, oldest answer first unless `order` says otherwise (as the SQL orders them). */
  private active(
    when: (c: CallRecord) => boolean,
    limit: number,
    order = (a: CallRecord, b: CallRecord) => a.answeredAt!.getTime() - b.answeredAt!.getTime(),
  ): CallRecord[] {
    return [...this.rows.values()]
      .filter((c) => c.state === 'active' && when(c))
      .sort(order)
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  async markWarned(id: string, at: Date): Promise<CallRecord | null> {
    return this.changeIf(id, (c) => c.state === 'active' && c.warnedAt === null, { warnedAt: at });
  }

  async end(id: string, from: CallState[], end: CallEnd, timers?: TimerChanges): Promise<CallRecord | null> {
    const ended = await this.changeIf(id, (c) => from.includes(c.state), { state: 'ended', ...end });
    if (ended) {
      for (const [userId, callId] of this.slots) if (callId === id) this.slots.delete(userId);
      await this.storeTimers(timers);
    }
    return ended;
  }

  async storeMediaStats(id: string, stats: MediaStatsDto): Promise<void> {
    const row = this.rows.get(id);
    if (row) row.mediaStats = stats;
  }

  readonly mediaSetupMs = new Map<string, number>();

  async recordMediaSetup(id: string, setupMs: number): Promise<boolean> {
    if (this.mediaSetupMs.has(id)) return false;
    this.mediaSetupMs.set(id, setupMs);
    return true;
  }

  async countActive(): Promise<number> {
    return [...this.rows.values()].filter((c) => c.state === 'active').length;
  }

  async history(userId: string, limit: number): Promise<CallRecord[]> {
    return [...this.rows.values()]
      .filter((c) => c.callerId === userId || c.calleeId === userId)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  async overdue(now: Date, limit: number): Promise<CallRecord[]> {
    return [...this.rows.values()]
      .filter(
        (c) =>
          (c.state === 'active' && c.maxEndsAt !== null && c.maxEndsAt <= now) ||
          (c.state === 'ringing' && c.ringEndsAt !== null && c.ringEndsAt <= now),
      )
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  async livePage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return [...this.rows.values()]
      .filter((c) => c.state !== 'ended' && (afterId === null || c.id > afterId))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  private changeIf(id: string, when: (c: CallRecord) => boolean, change: Partial<CallRecord>): CallRecord | null {
    const row = this.rows.get(id);
    if (!row || !when(row)) return null;
    Object.assign(row, change);
    return { ...row };
  }

  private copy(row: CallRecord | undefined): CallRecord | null {
    return row ? { ...row } : null;
  }
}

/** What users were told, and who is connected. */
export class RecordingRealtime implements Partial<PublicOf<RealtimeService>> {
  readonly sent: { userId: string; event: ServerEventName; payload: unknown }[] = [];
  private readonly online = new Set<string>();
  private readonly onlineListeners: PresenceListener[] = [];
  private readonly offlineListeners: PresenceListener[] = [];

  toUser<E extends ServerEventName>(userId: string, event: E, payload: ServerEvents[E]): void {
    this.sent.push({ userId, event, payload });
  }

  async isOnline(userId: string): Promise<boolean> {
    return this.online.has(userId);
  }

  onUserOnline(listener: PresenceListener): void {
    this.onlineListeners.push(listener);
  }

  onUserOffline(listener: PresenceListener): void {
    this.offlineListeners.push(listener);
  }

  async connect(userId: string): Promise<void> {
    this.online.add(userId);
    for (const l of this.onlineListeners) await l(userId);
  }

  async disconnect(userId: string): Promise<void> {
    this.online.delete(userId);
    for (const l of this.offlineListeners) await l(userId);
  }

  /** The payloads of one event sent to one user, in order. */
  eventsTo<E extends ServerEventName>(userId: string, event: E): ServerEvents[E][] {
    return this.sent.filter((s) => s.userId === userId && s.event === event).map((s) => s.payload as ServerEvents[E]);
  }
}

/**
 * Call media as the state machine sees it: rooms by call, on one node that
 * can be taken away (then no node can take a room, and recovery fails).
 */
export class FakeCallMedia implements Partial<PublicOf<CallMediaService>> {
  readonly rooms = new Set<string>();
  readonly restarts: { callId: string; reason: MediaRestartReason }[] = [];
  nodes: string[] = ['node-1'];
  /** The live nodes as this process's last read saw them, when it missed a change (default: `nodes`). */
  snapshot?: string[];

  async placeRoom(): Promise<string> {
    if (this.nodes.length === 0) throw new Error('no media node');
    return this.nodes[0];
  }

  async openRoom(call: CallRecord): Promise<void> {
    this.rooms.add(call.id);
  }

  isNodeLoss(): boolean {
    return false;
  }

  remember(): void {}

  /** Nothing is remembered: the state machine reads every call it ends. */
  rememberedActive(): undefined {
    return undefined;
  }

  async closeRoom(call: CallRecord): Promise<MediaStatsDto | null> {
    if (!this.rooms.delete(call.id)) return null;
    return { sampledSeconds: 0, legs: [] };
  }

  async recover(call: CallRecord, reason: MediaRestartReason): Promise<CallRecord> {
    if (this.nodes.length === 0) throw new Error('no media node can take the call');
    this.restarts.push({ callId: call.id, reason });
    this.rooms.add(call.id);
    return { ...call, mediaNodeId: this.nodes[0] };
  }

  /** The cluster view recovery reads: the live nodes' heartbeats. */
  cluster(): Partial<PublicOf<MediaCluster>> {
    return {
      // `snapshot`: what this process last read, when older than the heartbeats (`nodes`).
      liveNodes: async (fresh?: boolean) =>
        (fresh ? this.nodes : (this.snapshot ?? this.nodes)).map((nodeId) => ({ nodeId }) as MediaNodeStatus),
      onEvent: () => undefined,
      claimOnce: async () => true,
    };
  }
}

export interface CallsHarness {
  calls: CallsService;
  supervisor: CallSupervisor;
  repository: InMemoryCallRepository;
  scheduler: VirtualScheduler;
  realtime: RecordingRealtime;
  media: FakeCallMedia;
  recovery: CallMediaRecovery;
  /** Call entries written to conversations. */
  entries: { callId: string; body: string }[];
  /** Invites as the experiment recorded them. */
  attempts: CallAttempt[];
  config: AppConfig;
}

/**
 * The calls capability with everything around it replaced by in-memory
 * fakes: the real state machine, supervisor and call timers, on virtual
 * time. Durations are the production defaults unless `env` says otherwise.
 */
export async function callsHarness(env: Record<string, string> = {}): Promise<CallsHarness> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const logger = pino({ level: 'silent' });
  const clock = new VirtualClock();
  const scheduler = new VirtualScheduler();
  const repository = new InMemoryCallRepository(scheduler);
  const timers = new CallTimers(scheduler as unknown as DurableScheduler);
  const realtime = new RecordingRealtime();
  const media = new FakeCallMedia();
  const entries: { callId: string; body: string }[] = [];
  const attempts: CallAttempt[] = [];
  const metrics = new MetricsService();

  const relationships: Pick<RelationshipService, 'onBlocked'> = { onBlocked: () => undefined };
  const flags: Pick<FlagsService, 'isEnabled' | 'isEnabledForAll'> = { isEnabled: async () => false, isEnabledForAll: async () => false };
  const experimentLog: Pick<ExperimentLog, 'callAttempted'> = { callAttempted: (attempt) => void attempts.push(attempt) };
  const messages: Pick<DirectMessagesService, 'appendCallEntry'> = {
    appendCallEntry: async (input) => {
      entries.push({ callId: input.callId, body: input.body });
      return undefined as never;
    },
  };

  const calls = new CallsService(
    repository as unknown as CallRepository,
    timers,
    flags as FlagsService,
    media as unknown as CallMediaService,
    messages as DirectMessagesService,
    realtime as unknown as RealtimeService,
    clock,
    new CallMetrics(metrics, repository as unknown as CallRepository, clock),
    experimentLog as ExperimentLog,
    config,
    logger,
    metrics,
  );
  const supervisor = new CallSupervisor(
    calls,
    repository as unknown as CallRepository,
    timers,
    realtime as unknown as RealtimeService,
    relationships as RelationshipService,
    clock,
    config,
    logger,
  );
  await supervisor.onModuleInit();
  const recovery = new CallMediaRecovery(
    repository as unknown as CallRepository,
    calls,
    media as unknown as CallMediaService,
    media.cluster() as MediaCluster,
    clock,
    config,
    logger,
  );
  return {
    recovery,
    calls,
    supervisor,
    repository,
    scheduler,
    realtime,
    media,
    entries,
    attempts,
    config,
  };
}
