import { Inject, OnApplicationShutdown, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
} from '@nestjs/websockets';
import type { EventEmitter } from 'node:events';
import type { Server, Socket } from 'socket.io';
import { AuthService, AuthUser, bearerToken } from '@app/auth';
import { APP_CONFIG, AppConfig, Clock, serviceKeyOf } from '@app/config';
import { DomainError, ErrorBody, errorAck, schemas } from '@app/contracts';
import { Logger, MetricsService, ROOT_LOGGER } from '@app/observability';
import { DEFAULT_EVENT_RULE, RateLimiterService } from '@app/rate-limits';
import { RealtimeService, userRoom } from '@app/realtime';
import { RedisConnections } from '@app/redis';
import { SocketGateway } from '../common/socket-gateway.decorator';
import { isUserHeldHereAlone, joinUserRoom, knownEvents } from '../common/socket-io.adapter';
import { overInFlightCap, shownEventName, SocketAccessLog } from '../common/socket-event-pipeline';
import { ZodPipe } from '../common/zod.pipe';
import { ExpirySchedule } from './expiry-schedule';
import { SocketPlaces } from './socket-places';

/** Server-to-server event: a user's tokens were revoked (its payload is the user id). */
const REVOCATION_ANNOUNCEMENT = 'auth:revoked';

/**
 * Socket life: the handshake is authenticated (and the user's socket count
 * checked) before a connection exists, each socket joins its user's room,
 * lives as long as its token (or a refreshed one), and an event no handler
 * knows is answered instead of left silent.
 */
@SocketGateway()
export class ConnectionGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleInit, OnModuleDestroy, OnApplicationShutdown
{
  /** This process's sockets per user: presence changes on the first and the last. */
  private readonly localSockets = new Map<string, number>();
  /** Places under the per-user cap, held from an accepted handshake until its socket goes. */
  private readonly places: SocketPlaces;
  /** Token expiries of this process's sockets: one timer for all of them. */
  private readonly expiries: ExpirySchedule<Socket>;
  private closing = false;
  private stopRevocations?: () => void;
  private readonly logger: Logger;
  private readonly connected;
  private readonly access: SocketAccessLog;
  private readonly refused;

  constructor(
    private readonly auth: AuthService,
    private readonly realtime: RealtimeService,
    private readonly limits: RateLimiterService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    metrics: MetricsService,
    private readonly clock: Clock,
    @Optional() redis?: RedisConnections,
  ) {
    this.expiries = new ExpirySchedule<Socket>(
      (socket) => this.expire(socket),
      () => clock.now().getTime(),
    );
    this.logger = rootLogger.child({ component: 'socket' });
    this.connected = metrics.gauge('socket_connections', 'connected sockets on this process');
    this.access = new SocketAccessLog(rootLogger);
    this.refused = metrics.counter('socket_handshakes_refused_total', 'handshakes refused, by reason', ['reason']);
    this.places = new SocketPlaces({
      cap: config.maxSocketsPerUser,
      redis,
      // Processes sharing DATABASE_URL and REDIS_URL are one service; the database names it.
      serviceKey: serviceKeyOf(config),
      leaseMs: config.socketPlaceLeaseMs,
      logger: this.logger,
    });
  }

  async onModuleInit(): Promise<void> {
    await this.places.start();
  }

  afterInit(server: Server): void {
    this.realtime.attach(server, (userId) => isUserHeldHereAlone(server.sockets.adapter, userId));
    // A revocation is announced to every process, each of which reads its sockets of that user against the database.
    server.on(REVOCATION_ANNOUNCEMENT, (userId: unknown) => {
      if (typeof userId === 'string') void this.recheckUser(server, userId);
    });
    this.stopRevocations = this.auth.onRevoked((userId) => {
      if (this.config.redisUrl) server.serverSideEmit(REVOCATION_ANNOUNCEMENT, userId);
      void this.recheckUser(server, userId);
    });
    server.use((socket, next) => {
      const token = socket.handshake.auth?.token ?? bearerToken(socket.handshake.headers.authorization);
      this.admit(socket, typeof token === 'string' ? token : undefined).then(
        () => next(),
        (err: Error) => {
          this.refused.inc({ reason: err.message });
          next(err);
        },
      );
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) {
      socket.disconnect(true);
      return;
    }
    socket.conn.off('close', socket.data.releaseUnconnected);
    delete socket.data.releaseUnconnected;
    forgetHandshakeRequest(socket);
    this.armExpiry(socket);
    socket.onAny(this.answerUnknownEvent);
    this.connected.inc();
    const count = (this.localSockets.get(user.id) ?? 0) + 1;
    this.localSockets.set(user.id, count);
    // Checked again now that the socket is in its user's room: a revocation that committed after the
    // handshake's check is seen by this read, and one committing later disconnects the room.
    await this.recheck(socket);
    if (count === 1 && socket.connected) await this.presence(user.id, true);
  }

  /**
   * An event no handler knows is answered instead of left silent. One
   * function for every socket (`this` is the socket): nothing kept per socket.
   */
  private readonly answerUnknownEvent = ((gateway: ConnectionGateway) =>
    function answerUnknownEvent(this: Socket, event: string, ...args: unknown[]) {
      gateway.unknownEvent(this, event, args);
    })(this);

  private unknownEvent(socket: Socket, event: string, args: unknown[]): void {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) return;
    if (knownEvents(socket.nsp.server).has(event)) return;
    const ack = args[args.length - 1];
    const answer = (body: ErrorBody) => {
      this.access.write({ event, socket, outcome: body.code });
      if (typeof ack === 'function') ack(errorAck(body));
    };
    // Unknown names take a place under the socket's in-flight cap while they are counted, like any request.
    const max = this.config.socketMaxInFlight;
    const inFlight: number = socket.data.inFlight ?? 0;
    if (inFlight >= max) return answer(overInFlightCap(max).toBody());
    socket.data.inFlight = inFlight + 1;
    // They count against the user's default limit too, so a flood of them is slowed like any other.
    this.limits
      .consume(DEFAULT_EVENT_RULE, user.id)
      .then(
        () =>
          answer({
            code: 'VALIDATION_FAILED',
            message: `unknown event "${shownEventName(event)}"`,
            details: { event: shownEventName(event) },
          }),
        (err: unknown) => answer(err instanceof DomainError ? err.toBody() : { code: 'INTERNAL', message: 'internal error' }),
      )
      .finally(() => (socket.data.inFlight -= 1));
  }

  /** Disconnects the socket when its token was revoked since it was checked (or its user is gone). */
  private async recheck(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user || !socket.connected) return;
    try {
      if (await this.auth.stillValid(user)) return;
    } catch (err) {
      // The database is away: the socket keeps what its handshake proved, as every other socket does.
      this.logger.warn({ err, userId: user.id }, 'could not check a socket against revocations');
      return;
    }
    this.logger.info({ userId: user.id, socketId: socket.id }, 'socket of a revoked token disconnected');
    socket.disconnect(true);
  }

  /** Every socket of the user on this process, checked against the database. */
  private async recheckUser(server: Server, userId: string): Promise<void> {
    try {
      const sockets = await server.in(userRoom(userId)).local.fetchSockets();
      const live = sockets.map((s) => server.sockets.sockets.get(s.id)).filter((s): s is Socket => s !== undefined);
      await Promise.all(live.map((socket) => this.recheck(socket)));
    } catch (err) {
      this.logger.warn({ err, userId }, 'could not check sockets after a revocation');
    }
  }

  async handleDisconnect(socket: Socket): Promise<void> {
    const user: AuthUser | undefined = socket.data.user;
    if (!user) return;
    void this.places.release(user.id, socket.id);
    if (user.tokenExpiresAt) this.expiries.remove(socket, user.tokenExpiresAt.getTime());
    this.connected.dec();
    const count = (this.localSockets.get(user.id) ?? 1) - 1;
    if (count > 0) {
      this.localSockets.set(user.id, count);
      return;
    }
    this.localSockets.delete(user.id);
    await this.presence(user.id, false);
  }

  /** Swaps the socket's token for a newer one of the same user: the socket lives until the new expiry. */
  @SubscribeMessage('auth:refresh')
  async refresh(@ConnectedSocket() socket: Socket, @MessageBody(new ZodPipe(schemas.authRefresh)) body: schemas.AuthRefresh) {
    const user: AuthUser = socket.data.user;
    const next = await this.auth.refresh(user.id, body.token);
    if (user.tokenExpiresAt) this.expiries.remove(socket, user.tokenExpiresAt.getTime());
    user.tokenExpiresAt = next.tokenExpiresAt;
    user.credential = next.credential;
    this.armExpiry(socket);
    return { expiresAt: user.tokenExpiresAt.toISOString() };
  }

  /**
   * The server is stopping: its sockets close next, but their users did not
   * leave (a restart re-arms every live call's grace), and the database is
   * going away, so presence changes are no longer acted on.
   */
  onModuleDestroy(): void {
    this.closing = true;
    this.stopRevocations?.();
    this.expiries.clear();
  }

  /** After the sockets closed (each gave its place back): stop renewing. */
  async onApplicationShutdown(): Promise<void> {
    await this.places.close();
  }

  /** Authenticates a handshake and holds a place under the user's socket cap, or throws the refusal. */
  private async admit(socket: Socket, token: string | undefined): Promise<void> {
    let user: AuthUser;
    try {
      user = await this.auth.authenticate(token);
    } catch {
      throw new Error('UNAUTHENTICATED');
    }
    if (!(await this.places.reserve(user.id, socket.id))) {
      const err = new Error('TOO_MANY_CONNECTIONS') as Error & { data?: unknown };
      err.data = { code: 'TOO_MANY_CONNECTIONS', max: this.config.maxSocketsPerUser };
      throw err;
    }
    // A handshake whose client left while it was checked never connects, and gets no 'disconnect': give the place back.
    if (socket.conn.readyState !== 'open') {
      await this.places.release(user.id, socket.id);
      throw new Error('CLIENT_GONE');
    }
    socket.data.user = user;
    // The connection may close before the socket is set up (no 'disconnect' then); once connected,
    // handleDisconnect gives the place back (no listener kept per socket).
    const release = () => void this.places.release(user.id, socket.id);
    socket.conn.once('close', release);
    socket.data.releaseUnconnected = release;
    // In its room before it is connected: with several gateways, any that delivered this user's emits alone has been told.
    await joinUserRoom(socket, userRoom(user.id));
  }

  /** At the token's expiry the socket is told (`auth:expired`) and closed, unless a refresh moved it. */
  private armExpiry(socket: Socket): void {
    const expiresAt: Date | undefined = socket.data.user?.tokenExpiresAt;
    if (expiresAt) this.expiries.add(socket, expiresAt.getTime());
  }

  private expire(socket: Socket): void {
    if (!socket.connected || this.closing) return;
    const expiresAt: Date | undefined = socket.data.user?.tokenExpiresAt;
    if (expiresAt && expiresAt.getTime() > this.clock.now().getTime()) return this.armExpiry(socket);
    socket.emit('auth:expired', {});
    socket.disconnect(true);
  }

  private async presence(userId: string, online: boolean): Promise<void> {
    if (this.closing) return;
    try {
      await this.realtime.notifyPresence(userId, online);
    } catch (err) {
      this.logger.error({ err, userId, online }, 'presence listener failed');
    }
  }
}

/** What a connected socket's handshake keeps of its headers, query and auth: one empty object for all of them. */
const NOTHING_KEPT = Object.freeze({});
const NO_RAW_HEADERS: readonly string[] = Object.freeze([]);

/**
 * An idle socket should not keep its upgrade request (and its headers)
 * alive: everything later read from the handshake is its address (kept, a
 * string) and what the handshake middleware read before the connection
 * existed (the token, now in socket.data.user).
 */
function forgetHandshakeRequest(socket: Socket): void {
  const handshake = socket.handshake as { headers: unknown; query: unknown; auth: unknown; time: string; url: string };
  handshake.headers = NOTHING_KEPT;
  handshake.query = NOTHING_KEPT;
  handshake.auth = NOTHING_KEPT;
  // A date string and the upgrade URL per socket, read by nothing here (`issued` keeps the time as a number).
  handshake.time = '';
  handshake.url = '';
  // engine.io's upgrade response keeps the request until the connection closes (a 'close' listener of
  // the TCP socket): what it holds is emptied, then the engine socket's own reference dropped.
  const conn = socket.conn as unknown as {
    request: { rawHeaders: readonly string[]; headers: unknown; _query: unknown; url: string } | null;
  };
  if (conn.request) {
    conn.request.rawHeaders = NO_RAW_HEADERS;
    conn.request.headers = NOTHING_KEPT;
    conn.request._query = NOTHING_KEPT;
    conn.request.url = '';
  }
  conn.request = null;
  // engine.io also leaves the 'error' listener it sets before the upgrade on the WebSocket, whose closure
  // keeps the upgrade's locals; the transport listens for errors itself from then on.
  const webSocket = (socket.conn as unknown as { transport?: { socket?: EventEmitter } }).transport?.socket;
  for (const listener of webSocket?.listeners('error') ?? []) {
    if (listener.name === 'onUpgradeError') webSocket!.off('error', listener as (...args: unknown[]) => void);
  }
}
