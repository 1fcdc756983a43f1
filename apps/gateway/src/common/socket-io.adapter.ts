import crypto from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WebSocketsController } from '@nestjs/websockets/web-sockets-controller';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { MessageType } from 'socket.io-adapter';
import type { Observable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { APP_CONFIG, AppConfig, redisNamespace, serviceKeyOf } from '@app/config';
import { Logger, MetricsService } from '@app/observability';
import { RateLimiterService } from '@app/rate-limits';
import { userRoom } from '@app/realtime';
import { RedisConnections } from '@app/redis';
import { InFlightWork } from './in-flight-work';
import { SoleProcessWatch } from './sole-process-watch';
import { SoleUserRooms } from './sole-user-rooms';
import { FramingAdapter, isUserRoomFrame, UserRoomFrames } from './user-room-frames';
import { BoundSocketHandler, SocketEventPipeline } from './socket-event-pipeline';
import { bufferEndsWith } from './buffer-affixes';

/** Largest socket.io frame accepted; a bigger one closes that socket. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** A Nest message handler before it is bound to a socket: (socket, data, ack) with `this` its gateway. */
type SocketHandlerCallback = (this: unknown, socket: Socket, data: unknown, ack: unknown) => unknown;

type SubscribersMap = { message: unknown; callback: SocketHandlerCallback }[];

const KNOWN_EVENTS = new WeakMap<Server, Set<string>>();

/** Event names some gateway handles on this server (an event not in it is answered as unknown). */
export function knownEvents(server: Server): Set<string> {
  let known = KNOWN_EVENTS.get(server);
  if (!known) KNOWN_EVENTS.set(server, (known = new Set()));
  return known;
}

/**
 * Nest binds every handler to every socket (one bound function per event and
 * socket) before handing them to the adapter. With GatewayIoAdapter it hands
 * over the unbound handlers instead (bindSharedHandlers). Nest's internal
 * method; left alone if it is not there.
 */
export function patchNestMessageBinding(): void {
  const proto = WebSocketsController.prototype as unknown as {
    subscribeMessages?: (subscribersMap: SubscribersMap, client: unknown, instance: unknown) => void;
    getConnectionHandler?: (
      context: { subscribeMessages(subscribersMap: SubscribersMap, client: unknown, instance: unknown): void },
      instance: unknown,
      subscribersMap: SubscribersMap,
      disconnect: { next(client: unknown): void },
      connection: { next(args: unknown[]): void },
    ) => (...args: unknown[]) => void;
    config: { getIoAdapter(): unknown };
    [PATCHED]?: true;
  };
  const original = proto.subscribeMessages;
  if (!original || proto[PATCHED]) return;
  proto[PATCHED] = true;
  proto.subscribeMessages = function (this: typeof proto, subscribersMap, client, instance) {
    const adapter = this.config.getIoAdapter();
    if (adapter instanceof GatewayIoAdapter) return adapter.bindSharedHandlers(client as Socket, subscribersMap, instance);
    return original.call(this, subscribersMap, client, instance);
  };
  // Nest also adds a 'disconnect' listener per gateway and socket, used only by a gateway with handleDisconnect.
  const connectionHandler = proto.getConnectionHandler;
  if (!connectionHandler) return;
  proto.getConnectionHandler = function (this: typeof proto, context, instance, subscribersMap, disconnect, connection) {
    const adapter = this.config.getIoAdapter();
    if (!(adapter instanceof GatewayIoAdapter))
      return connectionHandler.call(this, context, instance, subscribersMap, disconnect, connection);
    const wantsDisconnect = typeof (instance as { handleDisconnect?: unknown }).handleDisconnect === 'function';
    return (...args: unknown[]) => {
      const client = args[0] as Socket;
      connection.next(args);
      context.subscribeMessages(subscribersMap, client, instance);
      if (wantsDisconnect) adapter.bindClientDisconnect(client, () => disconnect.next(client));
    };
  };
}
const PATCHED = Symbol('sharedSocketHandlers');

/** Room names that hold one user's sockets (libs/realtime's userRoom): a socket is in exactly one. */
const USER_ROOM_PREFIX = 'user:';

type AdapterFactory = ReturnType<typeof createShardedAdapter>;
type ShardedAdapter = ReturnType<AdapterFactory>;
type BroadcastOptions = Parameters<ShardedAdapter['broadcast']>[1];

/**
 * socket.io on the HTTP server, with Redis sharded pub/sub between gateway
 * processes when REDIS_URL is set. Each user room has its own shard channel
 * ("dynamic" mode), which only processes holding a socket of that user
 * subscribe to: a user's events reach only the processes with that user's
 * sockets. Everything else (server-side emits such as the revocation
 * announcement, fetchSockets, disconnectSockets, multi-room emits that are
 * not all user rooms) goes through the namespace channel every process
 * subscribes to.
 */
export class GatewayIoAdapter extends IoAdapter {
  private redisAdapter?: AdapterFactory;
  private sole?: SoleProcessWatch;
  private pipeline?: SocketEventPipeline;

  constructor(
    private readonly app: INestApplicationContext,
    private readonly redis: RedisConnections | undefined,
    private readonly logger: Logger,
    private readonly inFlight = new InFlightWork(),
    /** Browser origins allowed to open a socket by long-polling; false: same origin only. */
    private readonly corsOrigin: string[] | false = false,
  ) {
    super(app);
  }

  async connectRedis(): Promise<void> {
    if (!this.redis?.enabled) return;
    const config = this.app.get<AppConfig>(APP_CONFIG, { strict: false });
    // Required: without them other processes' events for this process's users are lost.
    const pub = this.redis.open('adapter-pub', { required: true });
    const sub = this.redis.duplicate('adapter-pub', 'adapter-sub', { role: 'subscriber', required: true });
    await Promise.all([pub.connect(), sub.connect()]);
    // Channels named per service (like its other Redis keys): services sharing one Redis do not hear each other.
    const channelPrefix = redisNamespace('socket.io', serviceKeyOf(config));
    const metrics = this.app.get(MetricsService, { strict: false });
    const soleGauge = metrics.gauge(
      'socketio_adapter_sole_process',
      '1 while this is the only gateway process on Redis (emits stay local)',
    );
    const soleRoomsGauge = metrics.gauge(
      'socketio_adapter_sole_user_rooms',
      'user rooms no other gateway process holds (their emits stay local)',
    );
    const sole = new SoleProcessWatch({
      publisher: pub,
      channel: `${channelPrefix}#/#`,
      uid: crypto.randomUUID(),
      recheckMs: config.socketPlaceLeaseMs,
      onChange: (isSole) => soleGauge.set(isSole ? 1 : 0),
    });
    // The adapter subscribes to the same channel later, with a listener of its own (no second SSUBSCRIBE).
    await sub.sSubscribe(sole.channel, (raw: Buffer) => sole.onMessage(raw), true);
    const userRooms = new SoleUserRooms({
      subscriber: sub,
      publisher: pub,
      channelOf: (room) => `${sole.channel}${room}#`,
      announcement: sole.announcement,
      isAnnouncement: (raw) => sole.isAnnouncement(raw),
      onCount: (n) => soleRoomsGauge.set(n),
    });
    sub.on('error', () => {
      sole.subscriptionLost();
      userRooms.subscriptionLost();
    });
    // Announced before this process takes sockets, so a process delivering alone stops before any of ours exists.
    await sole.start();
    this.sole = sole;
    // "dynamic", not "dynamic-private": every emit of ours names a user room, so per-socket
    // channels would only add a SSUBSCRIBE/SUNSUBSCRIBE per connection.
    const sharded = createShardedAdapter(pub, sub, { subscriptionMode: 'dynamic', channelPrefix });
    const received = metrics.counter(
      'socketio_adapter_messages_received_total',
      'messages from other gateway processes through the Redis adapter, by type',
      ['type'],
    );
    const countReceived = (type: unknown) => received.inc({ type: MessageType[type as MessageType] ?? String(type) });
    // socket.io calls it with `new`: a plain function (not an arrow) whose returned object is the adapter.
    this.redisAdapter = function shardedUserRoomAdapter(nsp: unknown) {
      const adapter = splitUserRoomBroadcasts(sharded(nsp), countReceived, sole, userRooms);
      adapter.on('delete-room', (room: string) => userRooms.release(room));
      SOLE_HOLDINGS.set(adapter, { process: sole, userRooms });
      return adapter;
    } as unknown as AdapterFactory;
    this.logger.info('socket.io fan-out through Redis sharded pub/sub');
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server: Server = super.createIOServer(port, {
      ...options,
      maxHttpBufferSize: MAX_FRAME_BYTES,
      // No compression context per socket (messages are small JSON).
      perMessageDeflate: false,
      cors: { origin: this.corsOrigin, credentials: true },
    } as ServerOptions);
    if (this.redisAdapter) server.adapter(this.redisAdapter);
    return server;
  }

  /**
   * Handlers of every gateway, by event: filled by the first socket, shared
   * by all. Each socket gets one listener (the same function for all of
   * them), not one bound function, closure and listener per event: those
   * held most of an idle socket's memory (Nest's own version also built an
   * rxjs pipeline per handler and socket).
   */
  private readonly handlers = new Map<string, { callback: SocketHandlerCallback; instance: unknown }>();
  private readonly listener = ((adapter: GatewayIoAdapter) =>
    function onSocketEvent(this: Socket, event: string, ...args: unknown[]) {
      adapter.dispatch(this, event, args);
    })(this);

  /** Called (for each gateway and socket) instead of Nest's per-socket binding: see patchNestMessageBinding. */
  bindSharedHandlers(socket: Socket, handlers: { message: unknown; callback: SocketHandlerCallback }[], instance: unknown): void {
    for (const { message, callback } of handlers) {
      if (!this.handlers.has(message as string)) this.handlers.set(message as string, { callback, instance });
    }
    for (const { message } of handlers) knownEvents(socket.nsp.server).add(message as string);
    const listeners = socket.listenersAny();
    if (!listeners.includes(this.listener)) socket.prependAny(this.listener);
  }

  /** Nest's own path, kept for a gateway bound without the patch. */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    for (const { message, callback } of handlers) {
      const event = message as string;
      knownEvents(socket.nsp.server).add(event);
      socket.on(event, (...args: unknown[]) => this.run(socket, event, args, callback as BoundSocketHandler));
    }
  }

  private dispatch(socket: Socket, event: string, args: unknown[]): void {
    const handler = this.handlers.get(event);
    if (!handler) return;
    this.run(socket, event, args, (data, ack) => handler.callback.call(handler.instance, socket, data, ack));
  }

  private run(socket: Socket, event: string, args: unknown[], handler: BoundSocketHandler): void {
    // A stopping gateway takes no new work; the client's request fails with the connection and is resent elsewhere.
    if (this.inFlight.draining) return;
    const pipeline = (this.pipeline ??= this.createPipeline());
    const { data, ack } = this.mapPayload(args.length === 1 ? args[0] : args);
    const handled = pipeline
      .handle(socket, event, data, ack, handler)
      .catch((err: unknown) => this.logger.error({ err, event }, 'socket handler pipeline failed'));
    void this.inFlight.track(handled);
  }

  /** Made once the application's providers exist (handlers are bound after init). */
  private createPipeline(): SocketEventPipeline {
    return new SocketEventPipeline({
      // Absent only on a process without socket gateways.
      limits: this.optional(RateLimiterService),
      heldHereAlone: (socket, userId) => isUserHeldHereAlone(socket.nsp.adapter, userId),
      config: this.app.get<AppConfig>(APP_CONFIG, { strict: false }),
      metrics: this.app.get(MetricsService, { strict: false }),
      rootLogger: this.logger,
    });
  }

  private optional<T>(token: new (...args: never[]) => T): T | undefined {
    try {
      return this.app.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  /** The Redis connections are closed by their owner (RedisConnections), after this. */
  override async close(server: Server): Promise<void> {
    this.sole?.stop();
    await super.close(server);
  }
}

/**
 * An emit to user rooms goes to each room's shard channel, so only the
 * processes holding that user's sockets get it; the rooms held here alone
 * share one local emit. Safe because a socket is in one user room only:
 * nobody gets it twice. An emit to a room no other process holds
 * (`userRooms`), or any emit while this is the only gateway process
 * (`sole`), is delivered here only. What is published for a user room is
 * the packet already encoded (user-room-frames.ts), encoded once for all the
 * rooms, sent with the room's other packets of the turn and written as it is
 * by the processes that receive it. Also counts
 * messages received from other processes (the metric the fan-out tests read).
 */
export function splitUserRoomBroadcasts(
  adapter: ShardedAdapter,
  count: (type: unknown) => void,
  sole?: Pick<SoleProcessWatch, 'isSole' | 'isAnnouncement'>,
  userRooms?: Pick<SoleUserRooms, 'isSole'>,
): ShardedAdapter {
  const internals = adapter as unknown as AdapterInternals;
  const frames = new UserRoomFrames(internals);
  const broadcast = adapter.broadcast.bind(adapter);
  const locally = (opts: BroadcastOptions): BroadcastOptions => ({ ...opts, flags: { ...opts.flags, local: true } });
  adapter.broadcast = (packet: unknown, opts: BroadcastOptions) => {
    if (opts.flags?.local) return broadcast(packet, opts);
    // The only gateway process: nobody to reach through Redis.
    if (sole?.isSole) return broadcast(packet, locally(opts));
    const rooms = [...opts.rooms];
    if (rooms.length === 0 || !rooms.every((r) => r.startsWith(USER_ROOM_PREFIX))) return broadcast(packet, opts);
    const here: string[] = [];
    const elsewhere: string[] = [];
    for (const room of rooms) (userRooms?.isSole(room) ? here : elsewhere).push(room);
    const encoded = frames.encode(packet as { nsp?: string }, opts);
    if (encoded === undefined) {
      // Not for a frame: the adapter's own messages, one per room, and one local emit for the rooms here.
      const sent = elsewhere.map((room) => broadcast(packet, { ...opts, rooms: new Set([room]) }));
      if (here.length > 0) sent.push(broadcast(packet, locally({ ...opts, rooms: new Set(here) })));
      return Promise.all(sent).then(() => undefined);
    }
    // Encoded once, for the rooms held here alone and for every frame.
    if (here.length > 0) frames.write(here, [encoded], opts.except);
    return Promise.all(elsewhere.map((room) => frames.publish(room, encoded, opts.except))).then(() => undefined);
  };
  // Whatever the adapter publishes itself (an emit no frame carries, disconnectSockets, a server-side
  // emit) goes after the frames of this turn so far, so a user's events keep the order they were sent in.
  const doPublish = internals.doPublish.bind(adapter);
  internals.doPublish = (message) => {
    frames.flush();
    return doPublish(message);
  };
  // A process hears its own publishes on the rooms it holds (a DM's sender room, every emit of a
  // one-process deployment). The adapter would parse each and then drop it by its uid; the JSON it
  // wrote ends with that uid and the namespace, so the echo is dropped unparsed. Anything else
  // (binary encoding, another key order) is parsed and filtered by the adapter as before.
  const ownSuffix = Buffer.from(`,"uid":"${internals.uid}","nsp":${JSON.stringify(internals.nsp.name)}}`);
  const onRawMessage = internals.onRawMessage.bind(adapter);
  internals.onRawMessage = (raw, channel) => {
    if (isUserRoomFrame(raw)) {
      if (frames.receive(raw)) count(MessageType.BROADCAST);
      return;
    }
    if (isOwnEcho(raw, ownSuffix)) return;
    // Processes' announcements of themselves (SoleProcessWatch) share the namespace channel: not the adapter's.
    if (sole?.isAnnouncement(raw)) return;
    return onRawMessage(raw, channel);
  };
  const onMessage = internals.onMessage.bind(adapter);
  internals.onMessage = (message, offset) => {
    // A process subscribed to a room it publishes to hears itself too (and ignores it).
    if (message.uid !== internals.uid) count(message.type);
    return onMessage(message, offset);
  };
  return adapter;
}

/** The parts of the sharded adapter the split uses beyond its typed API (the frames' too). */
interface AdapterInternals extends FramingAdapter {
  doPublish(message: unknown): Promise<string>;
  onMessage(message: { uid: string; type: unknown }, offset?: string): unknown;
  onRawMessage(raw: Buffer, channel: Buffer): unknown;
}

/** What each namespace's adapter knows of the rooms no other gateway process holds. */
const SOLE_HOLDINGS = new WeakMap<object, { process: Pick<SoleProcessWatch, 'isSole'>; userRooms: SoleUserRooms }>();

/**
 * Puts a socket that is not connected yet in its user's room. With Redis, the
 * first socket of the user on this process claims the room (SoleUserRooms):
 * resolved once every other process holding the user's room has stopped
 * delivering the user's emits alone, so a connected socket misses nothing
 * they emit (or after `timeoutMs`, when Redis is that slow).
 */
export async function joinUserRoom(socket: Socket, room: string, timeoutMs = 5_000): Promise<void> {
  await socket.join(room);
  const claim = SOLE_HOLDINGS.get(socket.nsp.adapter)?.userRooms.claim(room);
  if (!claim) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([claim, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}

/**
 * Whether no other gateway process holds a socket of the user: this is the
 * only gateway process (SoleProcessWatch), or no other holds the user's room
 * (SoleUserRooms). Always so with socket.io's in-memory adapter (no Redis:
 * one process on its own), the only kind that registers no holdings.
 */
export function isUserHeldHereAlone(nspAdapter: object, userId: string): boolean {
  const holdings = SOLE_HOLDINGS.get(nspAdapter);
  if (!holdings) return true;
  return holdings.process.isSole || holdings.userRooms.isSole(userRoom(userId));
}

/** Whether `raw` is JSON this process published (it ends with the process's uid and namespace). */
export function isOwnEcho(raw: Buffer, ownSuffix: Buffer): boolean {
  return raw[0] === 0x7b && bufferEndsWith(raw, ownSuffix, true);
}
