import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createClient, ErrorReply } from 'redis';
import { Clock, redisNamespace } from '@app/config';
import { DomainError, ErrorCode } from '@app/contracts';
import { SpanKind, traceCarrier, withSpan, withTraceCarrier } from '@app/observability';
import type { Logger, MetricsService } from '@app/observability';
import { RedisConnections } from '@app/redis';
import {
  DropCounter,
  MalformedMediaRequest,
  nodeEvent,
  nodePush,
  parseWire,
  ReplyEnvelope,
  replyEnvelope,
  RequestEnvelope,
  requestEnvelope,
  WireRequest,
} from './media-bus-wire';
import type { MediaNodePush } from './media-node-api';

/**
 * A request to a media node: a method of its room API and its arguments
 * (`requestId`, carried for tracing, is the id of the client request that
 * caused it). Typed callers use MediaCluster.node(); this is the wire form.
 */
export type MediaRequest = WireRequest;

/**
 * Where a request came from: `bus` from another process (anything may arrive: its arguments are
 * checked), `local` from this process's own typed MediaNodeClient (checked by the types, and the
 * client input in it at the gateway's edge, so not parsed a second time).
 */
export type MediaRequestOrigin = 'bus' | 'local';

export type MediaRequestHandler = (request: MediaRequest, origin: MediaRequestOrigin) => Promise<unknown>;

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
 * says why: true when nobody listened on the node's channel and the node's
 * process is gone (none of its Redis connections is open: known at once),
 * false when the request timed out (the node may only be slow, or its
 * subscription did not come back in time) or this side's bus closed.
 */
export class MediaNodeUnreachable extends Error {
  constructor(
    readonly nodeId: string,
    method: string,
    readonly noSubscriber = false,
  ) {
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
  /** Tells every process's gateway side something a node did on its own (quality, auto-consumed consumers). */
  publishPush(push: MediaNodePush): Promise<void>;
  /**
   * Hears every node's pushes; resolves once they reach this process. A
   * process where nothing listens for them (a media node alone) is not
   * sent them.
   */
  onPush(listener: (push: MediaNodePush) => void): Promise<void>;
  /**
   * Pushes for which `staysHere` is true go to this process's listeners only, not through Redis:
   * for a push whose every recipient's sockets are on this process (its gateway side tells).
   */
  keepPushesHereWhen(staysHere: (push: MediaNodePush) => boolean): void;
  /** True for exactly one caller per key across processes (for `ttlMs`). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The errors a node answers with travel as protocol errors; anything else is INTERNAL. */
export function errorToWire(err: unknown): ReplyEnvelope['error'] {
  if (err instanceof DomainError) return { code: err.code, message: err.message, details: err.details };
  return { code: 'INTERNAL', message: 'the media node failed to handle the request' };
}

export function errorFromWire(error: NonNullable<ReplyEnvelope['error']>): DomainError {
  return new DomainError(error.code as ErrorCode, error.message, error.details as Record<string, unknown> | undefined);
}

/** media_bus_dropped_total: messages read from the bus that did not parse, by channel and why. */
export function busDropCounter(metrics: MetricsService): DropCounter {
  const counter = metrics.counter(
    'media_bus_dropped_total',
    'media bus messages dropped because they did not parse, by channel and reason',
    ['channel', 'reason'],
  );
  return (channel, reason) => counter.inc({ channel, reason });
}

const NOT_COUNTED: DropCounter = () => undefined;

/** A node's handler refused a request it could not read: counted; the local caller gets INTERNAL, a remote one no answer. */
function malformed(err: unknown, dropped: DropCounter): boolean {
  if (!(err instanceof MalformedMediaRequest)) return false;
  dropped('request', err.reason);
  return true;
}

/** One process alone: its own node is the only one. */
export class InProcessMediaBus implements MediaBus {
  readonly localNodeId = crypto.randomUUID();
  private handler?: MediaRequestHandler;
  private status?: MediaNodeStatus;
  private readonly events = new EventEmitter();
  private readonly claims = new Map<string, number>();

  constructor(
    /** What claimOnce's time-to-live is measured with. */
    private readonly clock: Clock,
    private readonly dropped: DropCounter = NOT_COUNTED,
    private readonly logger?: Logger,
  ) {}

  async request(nodeId: string, request: MediaRequest, timeoutMs: number): Promise<unknown> {
    if (nodeId !== this.localNodeId || !this.handler) throw new MediaNodeUnreachable(nodeId, request.method, true);
    return withTimeout(localCall(this.handler, request, this.dropped), timeoutMs, () => new MediaNodeUnreachable(nodeId, request.method));
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
    setImmediate(() => emitEach(this.events, 'event', full, this.logger));
  }

  onEvent(listener: (event: MediaNodeEvent) => void): void {
    this.events.on('event', listener);
  }

  async publishPush(push: MediaNodePush): Promise<void> {
    setImmediate(() => emitEach(this.events, 'push', push, this.logger));
  }

  /** Every push stays in this process anyway. */
  keepPushesHereWhen(): void {}

  async onPush(listener: (push: MediaNodePush) => void): Promise<void> {
    this.events.on('push', listener);
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now().getTime();
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

/**
 * A request nobody received is published again after this long, doubling up
 * to RETRY_MAX_MS, while the node's subscriber reconnects (the client does so
 * at once and subscribes again before it is ready).
 */
const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 200;
/** Nodes whose connection ids are remembered for the cheap presence check. */
const KNOWN_NODES_MAX = 1_024;

/**
 * Several processes sharing REDIS_URL (and DATABASE_URL, whose hash names the service's keys).
 *
 * Every connection is named after its process's node (`<namespace>:<nodeId>:cmd` and `:sub`,
 * set again on each reconnect), so a requester can tell a node whose process is gone (none of
 * its connections open) from one whose subscriber is only reconnecting (its command connection
 * still open): only the first is reported as `noSubscriber`.
 */
export class RedisMediaBus implements MediaBus {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly events = new EventEmitter();
  private handler?: MediaRequestHandler;
  private closed = false;
  /** One presence check per node at a time, shared by every request that needs it. */
  private readonly presenceChecks = new Map<string, Promise<boolean>>();
  /** Redis client ids of each node's connections when last seen, looked up first (by id, cheap). */
  private readonly knownConnections = new Map<string, string[]>();
  /** CLIENT LIST was refused (an ACL, a managed Redis): only an expired heartbeat says a node is gone. */
  private clientListRefused = false;
  /** Set when the bus opened its connections itself (given a URL): it closes them. */
  private ownConnections?: RedisConnections;
  /** The subscription to the pushes channel, made when the first listener came (onPush). */
  private pushSubscription?: Promise<void>;
  /** keepPushesHereWhen's predicate: until one is given, every push goes through Redis. */
  private pushStaysHere: (push: MediaNodePush) => boolean = () => false;

  private constructor(
    readonly localNodeId: string,
    private readonly commands: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly namespace: string,
    private readonly logger: Logger,
    private readonly dropped: DropCounter,
  ) {}

  /** `metrics`: where media_bus_dropped_total is counted (messages that did not parse). */
  /**
   * `redis`: the process's Redis connections (they open and close the bus's
   * two), or a URL for a bus that owns its own (tests standing for processes).
   */
  static async connect(
    redis: RedisConnections | string,
    serviceKey: string,
    logger: Logger,
    metrics?: MetricsService,
  ): Promise<RedisMediaBus> {
    const namespace = redisNamespace('media', serviceKey);
    const nodeId = crypto.randomUUID();
    const ownsClients = typeof redis === 'string';
    const connections = ownsClients ? new RedisConnections(redis, logger) : redis;
    // CLIENT SETNAME on each (re)connect: the presence check reads these names.
    const commands = connections.open('media-bus-pub', { clientOptions: { name: connectionName(namespace, nodeId, 'cmd') } });
    const subscriber = connections.duplicate('media-bus-pub', 'media-bus-sub', {
      role: 'subscriber',
      clientOptions: { name: connectionName(namespace, nodeId, 'sub') },
    });
    for (const c of [commands, subscriber]) c.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error (media bus)'));
    await Promise.all([commands.connect(), subscriber.connect()]);
    const bus = new RedisMediaBus(nodeId, commands, subscriber, namespace, logger, metrics ? busDropCounter(metrics) : NOT_COUNTED);
    if (ownsClients) bus.ownConnections = connections;
    await subscriber.subscribe(bus.replyChannel(), (raw) => bus.onReply(raw));
    await subscriber.subscribe(`${namespace}:events`, (raw) => bus.onBroadcast(raw));
    // The client subscribes to every channel again before it reports ready; said here for the record.
    subscriber.on('ready', () => logger.info({ nodeId }, 'media bus subscriber reconnected and subscribed again'));
    return bus;
  }

  async request(nodeId: string, request: MediaRequest, timeoutMs: number): Promise<unknown> {
    if (nodeId === this.localNodeId && this.handler) {
      return withTimeout(localCall(this.handler, request, this.dropped), timeoutMs, () => new MediaNodeUnreachable(nodeId, request.method));
    }
    const id = crypto.randomUUID();
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MediaNodeUnreachable(nodeId, request.method));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    const envelope: RequestEnvelope = { id, replyTo: this.replyChannel(), request: { ...request, traceContext: traceCarrier() } };
    // Not awaited: the reply promise must have its handler before a timeout can reject it.
    this.deliver(nodeId, id, request.method, JSON.stringify(envelope)).catch((err) =>
      this.logger.error({ err, nodeId }, 'media request not delivered'),
    );
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
      // The set lives as long as some node's heartbeat: once every node of the cluster is gone, so is it.
      .pExpire(`${this.namespace}:nodes`, ttlMs)
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

  async publishPush(push: MediaNodePush): Promise<void> {
    if (this.pushStaysHere(push)) {
      // As a push from Redis would arrive: after what this turn is doing.
      setImmediate(() => emitEach(this.events, 'push', push, this.logger));
      return;
    }
    await this.commands.publish(`${this.namespace}:pushes`, JSON.stringify(push));
  }

  keepPushesHereWhen(staysHere: (push: MediaNodePush) => boolean): void {
    this.pushStaysHere = staysHere;
  }

  onPush(listener: (push: MediaNodePush) => void): Promise<void> {
    this.events.on('push', listener);
    // Subscribed with the first listener: every push of every node would otherwise also reach
    // each media node, to be read, parsed and dropped.
    this.pushSubscription ??= this.subscriber.subscribe(`${this.namespace}:pushes`, (raw) => this.onPushMessage(raw));
    return this.pushSubscription;
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
    // Shared connections are closed by their owner, after every user of them stopped.
    await this.ownConnections?.closeAll();
  }

  /**
   * Publishes a request until someone receives it. Nobody listening means
   * the node is gone only if none of its connections is open (a crash: the
   * request fails at once, noSubscriber); otherwise its subscriber is
   * reconnecting, and the request, received by nobody, is safe to publish
   * again until its timeout. Redis failing to publish says nothing about
   * the node: the request waits for its timeout.
   */
  private async deliver(nodeId: string, id: string, method: string, message: string): Promise<void> {
    for (let attempt = 0; this.pending.has(id); attempt++) {
      const receivers = await this.commands.publish(this.nodeChannel(nodeId), message).catch(() => null);
      if (receivers !== 0 || !this.pending.has(id)) return;
      if (await this.isGone(nodeId)) {
        const waiting = this.pending.get(id);
        if (waiting) {
          clearTimeout(waiting.timer);
          this.pending.delete(id);
          waiting.reject(new MediaNodeUnreachable(nodeId, method, true));
        }
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt)));
    }
  }

  /** Whether the node's process is gone as far as Redis can tell; one check per node at a time. */
  private isGone(nodeId: string): Promise<boolean> {
    let check = this.presenceChecks.get(nodeId);
    if (!check) {
      check = this.checkGone(nodeId).finally(() => this.presenceChecks.delete(nodeId));
      this.presenceChecks.set(nodeId, check);
    }
    return check;
  }

  private async checkGone(nodeId: string): Promise<boolean> {
    if (this.clientListRefused) return this.heartbeatExpired(nodeId);
    const prefix = connectionName(this.namespace, nodeId, '');
    const isNodes = (c: { name: string }) => c.name.startsWith(prefix);
    // The ids seen last time first: a lookup of a few clients, where CLIENT LIST reads them all.
    // Client ids are never reused, and a connection that reconnected has a new one: then all are read.
    const known = this.knownConnections.get(nodeId);
    if (known) {
      const open = await this.commands.clientList({ ID: known }).catch(() => []);
      if (open.some(isNodes)) return false;
    }
    let found: string[];
    try {
      found = (await this.commands.clientList()).filter(isNodes).map((c) => String(c.id));
    } catch (err) {
      if (!(err instanceof ErrorReply)) return false; // Redis is failing, not the node: wait for the timeout.
      this.clientListRefused = true;
      this.logger.warn(
        { err: err.message },
        'CLIENT LIST refused: a media node nobody listens for is taken for gone only when its heartbeat expires',
      );
      return this.heartbeatExpired(nodeId);
    }
    this.knownConnections.delete(nodeId);
    if (found.length === 0) return true;
    if (this.knownConnections.size >= KNOWN_NODES_MAX) this.knownConnections.delete(this.knownConnections.keys().next().value!);
    this.knownConnections.set(nodeId, found);
    return false;
  }

  private async heartbeatExpired(nodeId: string): Promise<boolean> {
    return (await this.commands.exists(`${this.namespace}:node:${nodeId}`).catch(() => 1)) === 0;
  }

  private nodeChannel(nodeId: string): string {
    return `${this.namespace}:node:${nodeId}:requests`;
  }

  private replyChannel(): string {
    return `${this.namespace}:replies:${this.localNodeId}`;
  }

  private async onRequest(raw: string): Promise<void> {
    const envelope = parseWire(raw, requestEnvelope, 'request', this.dropped);
    if (!envelope || !this.handler) return;
    let answer: ReplyEnvelope;
    try {
      const handler = this.handler;
      const { traceContext, ...request } = envelope.request;
      const result = await withTraceCarrier(traceContext, () =>
        withSpan(`media ${request.method}`, { 'media.node': this.localNodeId }, () => handler(request, 'bus'), { kind: SpanKind.SERVER }),
      );
      answer = { id: envelope.id, ok: true, result };
    } catch (err) {
      if (malformed(err, this.dropped)) {
        this.logger.warn({ method: envelope.request.method, err: (err as Error).message }, 'media request dropped');
        return;
      }
      if (!(err instanceof DomainError)) this.logger.error({ err, method: envelope.request.method }, 'media request failed');
      answer = { id: envelope.id, ok: false, error: errorToWire(err) };
    }
    if (this.closed) return;
    await this.commands.publish(envelope.replyTo, JSON.stringify(answer)).catch(() => undefined);
  }

  private onReply(raw: string): void {
    const envelope = parseWire(raw, replyEnvelope, 'reply', this.dropped);
    if (!envelope) return;
    const waiting = this.pending.get(envelope.id);
    if (!waiting) return; // answered after its timeout
    clearTimeout(waiting.timer);
    this.pending.delete(envelope.id);
    if (envelope.ok) waiting.resolve(envelope.result);
    else waiting.reject(errorFromWire(envelope.error ?? { code: 'INTERNAL', message: 'no error given' }));
  }

  private onBroadcast(raw: string): void {
    const event = parseWire(raw, nodeEvent, 'event', this.dropped);
    if (event) emitEach(this.events, 'event', event, this.logger);
  }

  private onPushMessage(raw: string): void {
    const push = parseWire(raw, nodePush, 'push', this.dropped);
    if (push) emitEach(this.events, 'push', push, this.logger);
  }
}

/** A local request, straight to the handler: a request it cannot read is counted and fails as INTERNAL. */
async function localCall(handler: MediaRequestHandler, request: MediaRequest, dropped: DropCounter): Promise<unknown> {
  try {
    return await handler(request, 'local');
  } catch (err) {
    if (malformed(err, dropped)) throw new DomainError('INTERNAL', (err as Error).message);
    throw err;
  }
}

/** Each listener on its own: one that throws neither stops the others nor reaches the subscriber (or the event loop). */
function emitEach(events: EventEmitter, name: string, value: unknown, logger: Logger | undefined): void {
  for (const listener of events.listeners(name)) {
    try {
      (listener as (v: unknown) => void)(value);
    } catch (err) {
      logger?.error({ err }, `media bus ${name} listener failed`);
    }
  }
}

/** The name of one of a node's Redis connections; with role '' the prefix all of them share. */
function connectionName(namespace: string, nodeId: string, role: 'cmd' | 'sub' | ''): string {
  return `${namespace}:${nodeId}:${role}`;
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
