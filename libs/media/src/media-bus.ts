import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createClient } from 'redis';
import { DomainError, ErrorCode } from '@app/contracts';
import type { Logger } from '@app/observability';

/** A request to a media node: a method of its room API and its arguments. */
export interface MediaRequest {
  method: string;
  args: unknown[];
  /** Carried for tracing: the id of the client request that caused this one. */
  requestId?: string;
}

export type MediaRequestHandler = (request: MediaRequest) => Promise<unknown>;

/** What a media node tells every gateway (room moved inside the node, room lost, node draining). */
export interface MediaNodeEvent {
  id: string;
  type: 'room-restarted' | 'room-failed' | 'node-draining';
  nodeId: string;
  callId?: string;
  reason?: 'worker_died' | 'drain' | 'node_lost';
}

/** A node's heartbeat: whether it takes new rooms, and how loaded it is. */
export interface MediaNodeStatus {
  nodeId: string;
  accepting: boolean;
  rooms: number;
  consumers: number;
  /** Share of a core its workers used since the last beat (all workers summed). */
  workerCpu: number;
  workers: number;
}

/**
 * Raised on the requesting side when a node does not answer. `noSubscriber`
 * says why: true when nobody listened on the node's channel (the process is
 * gone, known at once), false when the request timed out (the node may only
 * be slow) or this side's bus closed.
 */
export class MediaNodeUnreachable extends Error {
  constructor(readonly nodeId: string, method: string, readonly noSubscriber = false) {
    super(noSubscriber ? `media node ${nodeId} is gone (nobody listens for ${method})` : `media node ${nodeId} did not answer ${method}`);
    this.name = 'MediaNodeUnreachable';
  }
}

/**
 * How gateways and media nodes reach each other. With REDIS_URL: request and
 * reply over Redis pub/sub (one channel per node and per requester), node
 * heartbeats as Redis keys that expire, events on one broadcast channel, and
 * one-time claims with SET NX. Without it (one process on its own) the same
 * interface works in memory. A request to this process's own node is always
 * a direct call, never a round trip through Redis.
 */
export interface MediaBus {
  readonly localNodeId: string;
  /** Requests `method` from node `nodeId`; rejects with MediaNodeUnreachable after `timeoutMs`. */
  request(nodeId: string, request: MediaRequest, timeoutMs: number): Promise<unknown>;
  /** Serves requests addressed to this process's node. */
  serve(handler: MediaRequestHandler): Promise<void>;
  publishStatus(status: MediaNodeStatus, ttlMs: number): Promise<void>;
  withdrawStatus(): Promise<void>;
  /** Heartbeats of the nodes alive now. */
  liveNodes(): Promise<MediaNodeStatus[]>;
  publishEvent(event: Omit<MediaNodeEvent, 'id'>): Promise<void>;
  onEvent(listener: (event: MediaNodeEvent) => void): void;
  /** True for exactly one caller per key across processes (for `ttlMs`). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

interface Envelope {
  id: string;
  replyTo?: string;
  request?: MediaRequest;
  ok?: boolean;
  result?: unknown;
  error?: { code: string; message: string; details?: unknown };
}

/** The errors a node answers with travel as protocol errors; anything else is INTERNAL. */
export function errorToWire(err: unknown): Envelope['error'] {
  if (err instanceof DomainError) return { code: err.code, message: err.message, details: err.details };
  return { code: 'INTERNAL', message: 'the media node failed to handle the request' };
}

export function errorFromWire(error: NonNullable<Envelope['error']>): DomainError {
  return new DomainError(error.code as ErrorCode, error.message, error.details as Record<string, unknown> | undefined);
}

/** One process alone: its own node is the only one. */
export class InProcessMediaBus implements MediaBus {
  readonly localNodeId = crypto.randomUUID();
  private handler?: MediaRequestHandler;
  private status?: MediaNodeStatus;
  private readonly events = new EventEmitter();
  private readonly claims = new Map<string, number>();

  async request(nodeId: string, request: MediaRequest, timeoutMs: number): Promise<unknown> {
    if (nodeId !== this.localNodeId || !this.handler) throw new MediaNodeUnreachable(nodeId, request.method, true);
    return withTimeout(this.handler(request), timeoutMs, () => new MediaNodeUnreachable(nodeId, request.method));
  }

  async serve(handler: MediaRequestHandler): Promise<void> {
    this.handler = handler;
  }

  async publishStatus(status: MediaNodeStatus): Promise<void> {
    this.status = status;
  }

  async withdrawStatus(): Promise<void> {
    this.status = undefined;
  }

  async liveNodes(): Promise<MediaNodeStatus[]> {
    return this.status ? [this.status] : [];
  }

  async publishEvent(event: Omit<MediaNodeEvent, 'id'>): Promise<void> {
    const full = { ...event, id: crypto.randomUUID() };
    setImmediate(() => this.events.emit('event', full));
  }

  onEvent(listener: (event: MediaNodeEvent) => void): void {
    this.events.on('event', listener);
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    for (const [k, until] of this.claims) if (until <= now) this.claims.delete(k);
    if (this.claims.has(key)) return false;
    this.claims.set(key, now + ttlMs);
    return true;
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}

type RedisClient = ReturnType<typeof createClient>;

/** Several processes sharing REDIS_URL (and DATABASE_URL, whose hash names the service's keys). */
export class RedisMediaBus implements MediaBus {
  readonly localNodeId = crypto.randomUUID();
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly events = new EventEmitter();
  private handler?: MediaRequestHandler;
  private closed = false;

  private constructor(
    private readonly commands: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly namespace: string,
    private readonly logger: Logger,
  ) {}

  static async connect(redisUrl: string, serviceKey: string, logger: Logger): Promise<RedisMediaBus> {
    const commands = createClient({ url: redisUrl });
    const subscriber = commands.duplicate();
    for (const c of [commands, subscriber]) c.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error (media bus)'));
    await Promise.all([commands.connect(), subscriber.connect()]);
    const namespace = `media:${crypto.createHash('sha256').update(serviceKey).digest('hex').slice(0, 12)}`;
    const bus = new RedisMediaBus(commands, subscriber, namespace, logger);
    await subscriber.subscribe(bus.replyChannel(), (raw) => bus.onReply(raw));
    await subscriber.subscribe(`${namespace}:events`, (raw) => bus.onBroadcast(raw));
    return bus;
  }

  async request(nodeId: string, request: MediaRequest, timeoutMs: number): Promise<unknown> {
    if (nodeId === this.localNodeId && this.handler) {
      return withTimeout(this.handler(request), timeoutMs, () => new MediaNodeUnreachable(nodeId, request.method));
    }
    const id = crypto.randomUUID();
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MediaNodeUnreachable(nodeId, request.method));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    const envelope: Envelope = { id, replyTo: this.replyChannel(), request };
    const receivers = await this.commands.publish(this.nodeChannel(nodeId), JSON.stringify(envelope)).catch(() => null);
    if (receivers === 0 || receivers === null) {
      // Nobody listens on that node's channel: it is gone; no need to wait. Redis failing to
      // publish says nothing about the node, so that is not reported as "no subscriber".
      const waiting = this.pending.get(id);
      if (waiting) {
        clearTimeout(waiting.timer);
        this.pending.delete(id);
        waiting.reject(new MediaNodeUnreachable(nodeId, request.method, receivers === 0));
      }
    }
    return reply;
  }

  async serve(handler: MediaRequestHandler): Promise<void> {
    this.handler = handler;
    await this.subscriber.subscribe(this.nodeChannel(this.localNodeId), (raw) => void this.onRequest(raw));
  }

  async publishStatus(status: MediaNodeStatus, ttlMs: number): Promise<void> {
    await this.commands
      .multi()
      .set(`${this.namespace}:node:${status.nodeId}`, JSON.stringify(status), { PX: ttlMs })
      .sAdd(`${this.namespace}:nodes`, status.nodeId)
      .exec();
  }

  async withdrawStatus(): Promise<void> {
    await this.commands.del(`${this.namespace}:node:${this.localNodeId}`);
    await this.commands.sRem(`${this.namespace}:nodes`, this.localNodeId);
  }

  async liveNodes(): Promise<MediaNodeStatus[]> {
    const ids = await this.commands.sMembers(`${this.namespace}:nodes`);
    if (ids.length === 0) return [];
    const values = await this.commands.mGet(ids.map((id) => `${this.namespace}:node:${id}`));
    const live: MediaNodeStatus[] = [];
    const gone: string[] = [];
    values.forEach((v, i) => (v ? live.push(JSON.parse(v) as MediaNodeStatus) : gone.push(ids[i])));
    // Expired heartbeats leave their id in the set: tidy up as we read.
    if (gone.length > 0) await this.commands.sRem(`${this.namespace}:nodes`, gone).catch(() => undefined);
    return live;
  }

  async publishEvent(event: Omit<MediaNodeEvent, 'id'>): Promise<void> {
    await this.commands.publish(`${this.namespace}:events`, JSON.stringify({ ...event, id: crypto.randomUUID() }));
  }

  onEvent(listener: (event: MediaNodeEvent) => void): void {
    this.events.on('event', listener);
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    return (await this.commands.set(`${this.namespace}:claim:${key}`, '1', { NX: true, PX: ttlMs })) === 'OK';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new MediaNodeUnreachable('(closing)', id));
    }
    this.pending.clear();
    this.events.removeAllListeners();
    await Promise.all([this.subscriber.quit().catch(() => undefined), this.commands.quit().catch(() => undefined)]);
  }

  private nodeChannel(nodeId: string): string {
    return `${this.namespace}:node:${nodeId}:requests`;
  }

  private replyChannel(): string {
    return `${this.namespace}:replies:${this.localNodeId}`;
  }

  private async onRequest(raw: string): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(raw) as Envelope;
    } catch {
      return;
    }
    if (!envelope.request || !envelope.replyTo || !this.handler) return;
    let answer: Envelope;
    try {
      answer = { id: envelope.id, ok: true, result: await this.handler(envelope.request) };
    } catch (err) {
      if (!(err instanceof DomainError)) this.logger.error({ err, method: envelope.request.method }, 'media request failed');
      answer = { id: envelope.id, ok: false, error: errorToWire(err) };
    }
    if (this.closed) return;
    await this.commands.publish(envelope.replyTo, JSON.stringify(answer)).catch(() => undefined);
  }

  private onReply(raw: string): void {
    const envelope = JSON.parse(raw) as Envelope;
    const waiting = this.pending.get(envelope.id);
    if (!waiting) return; // answered after its timeout
    clearTimeout(waiting.timer);
    this.pending.delete(envelope.id);
    if (envelope.ok) waiting.resolve(envelope.result);
    else waiting.reject(errorFromWire(envelope.error ?? { code: 'INTERNAL', message: 'no error given' }));
  }

  private onBroadcast(raw: string): void {
    try {
      this.events.emit('event', JSON.parse(raw) as MediaNodeEvent);
    } catch (err) {
      this.logger.warn({ err }, 'unreadable media event');
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
