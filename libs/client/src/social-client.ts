import { io, Socket } from 'socket.io-client';
import type {
  Ack,
  ClientEventName,
  ClientEvents,
  HttpJsonRouteName,
  HttpRouteResult,
  ServerEventName,
  ServerEvents,
  UserDto,
} from '@app/contracts';
import { Backoff, BackoffOptions } from './backoff';
import { CallsApi } from './calls';
import { ClientError, ConnectionLostError, RequestTimeoutError } from './client-error';
import { ContactsApi, UsersApi } from './contacts';
import { FlagsApi } from './flags';
import { fetchJson, httpJson } from './http-api';
import { InFlightLimit } from './in-flight-limit';
import { MessagesApi } from './messages';
import { isAck, isPayloadOf, isResultOf, jsonRouteOf, malformedAck, malformedPush, malformedResult } from './protocol-checks';
import { sleep } from './sleep';

export interface ConnectOptions {
  /**
   * Reconnect after a lost connection (default true): exponential backoff with
   * full jitter, 250 ms growing to at most 30 s (see `backoff`). Not after
   * `disconnect()`, nor when the server closed the socket itself (a revoked
   * token; an expired one is renewed first when a token fetcher is set).
   */
  reconnection?: boolean;
  /** The reconnect schedule (default: initialMs 250, maxMs 30 000, factor 2, Math.random). */
  backoff?: BackoffOptions;
  timeoutMs?: number;
  /**
   * Fetch what arrived while away (`dm:sync`) right after connecting, in the
   * background (default true). Reconnections always resynchronise.
   */
  syncOnConnect?: boolean;
}

/**
 * Where the socket stands. `connecting`: the first connect() in progress
 * (retried with backoff until its timeout); `connected`; `reconnecting`: the
 * connection was lost and the next attempt is scheduled; `disconnected`: not
 * trying (before connect(), after disconnect(), or refused by the server).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** Lifecycle notifications of the SDK itself (not protocol events). */
export interface ClientLifecycleEvents {
  connected: { reconnect: boolean };
  disconnected: { reason: string };
  /** Every change of `connectionState`. */
  'connection-state': { state: ConnectionState; previous: ConnectionState };
  /** A reconnect attempt is scheduled: the `attempt`-th since the connection was lost, in `delayMs`. */
  reconnecting: { attempt: number; delayMs: number };
  /** A background task (inbox sync after a reconnect, a token renewal) failed. */
  error: { error: unknown; during: string };
  /** The token was renewed (and handed to the live socket with `auth:refresh`). */
  'token-refreshed': { expiresAt?: string };
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
// A token is renewed this long before it expires (or at 80 % of a shorter life).
const REFRESH_MARGIN_MS = 60_000;
const REFRESH_RETRY_MS = 2_000;
// The gateway caps a socket's unanswered requests (64 by default); the SDK stays well below.
const MAX_REQUESTS_IN_FLIGHT = 32;
// A RATE_LIMITED request was not carried out at all, so it is sent again after
// retryAfterMs; except dm:send (its own retry policy in messages.send) and
// dm:typing (a late typing notice is worth nothing).
const NOT_RETRIED_WHEN_RATE_LIMITED = new Set<string>(['dm:send', 'dm:typing']);
const RATE_LIMITED_ATTEMPTS = 20;
// Handshake refusals: trying again would be refused again.
const REFUSALS = new Set(['UNAUTHENTICATED', 'TOO_MANY_CONNECTIONS']);

/** A token as the server issues it (`POST /auth/dev-login`, `POST /auth/tokens`). */
export interface IssuedToken {
  token: string;
  /** ISO-8601; without it the token is never renewed ahead of time. */
  expiresAt?: string;
  user?: UserDto;
}

/**
 * Gets a fresh token for the signed-in user, typically from the app's own
 * backend (which asks the gateway's `POST /auth/tokens`). The SDK calls it
 * before the current token expires and after `auth:expired`.
 */
export type TokenFetcher = () => Promise<IssuedToken>;

/** Memory bounds of a long-lived client. */
export interface ClientLimits {
  /** Messages the inbox remembers to deduplicate (default 5000, the most recent). */
  inboxCapacity?: number;
  /** Calls whose latest state is remembered (default 1000, the most recently heard of). */
  rememberedCalls?: number;
}

export interface SocialClientOptions extends ClientLimits {
  fetchToken?: TokenFetcher;
  expiresAt?: string;
}

type Listener = (payload: unknown) => void;

/**
 * A signed-in user of the backend: HTTP calls and one socket, with every ack
 * turned into a result or a ClientError. Knows the protocol only.
 *
 * Areas: `users`, `contacts`, `messages` (with a deduplicating inbox that
 * resynchronises after reconnects), `calls`, `flags`.
 */
export class SocialClient {
  socket?: Socket;
  readonly users: UsersApi;
  readonly contacts: ContactsApi;
  readonly messages: MessagesApi;
  readonly calls: CallsApi;
  readonly flags: FlagsApi;

  /** Listeners live here, not on the socket, so they survive a new socket. */
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly lifecycle = new Map<string, Set<Listener>>();
  private connectedOnce = false;
  private currentToken: string;
  private tokenExpiresAt?: string;
  private readonly fetchToken?: TokenFetcher;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private refreshing?: Promise<void>;
  private stopped = false;
  /** Beyond it requests wait here, in order, rather than be refused by the server. */
  private readonly requestsInFlight = new InFlightLimit(MAX_REQUESTS_IN_FLIGHT);
  private state: ConnectionState = 'disconnected';
  private backoff = new Backoff();
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private renewedWhileAway = false;

  constructor(
    readonly baseUrl: string,
    token: string,
    readonly user: UserDto,
    options: SocialClientOptions = {},
  ) {
    this.currentToken = token;
    this.tokenExpiresAt = options.expiresAt;
    this.fetchToken = options.fetchToken;
    this.users = new UsersApi(this);
    this.contacts = new ContactsApi(this);
    this.messages = new MessagesApi(this, options.inboxCapacity);
    this.calls = new CallsApi(this, options.rememberedCalls);
    this.flags = new FlagsApi(this);
  }

  /**
   * `POST /auth/dev-login` (development and tests; off in production):
   * creates the user on first use, and logs in again before the token expires.
   */
  static async login(baseUrl: string, handle: string, displayName?: string, limits: ClientLimits = {}): Promise<SocialClient> {
    const devLogin = () =>
      httpJson(baseUrl, 'POST /auth/dev-login', '/auth/dev-login', {
        body: displayName === undefined ? { handle } : { handle, displayName },
      });
    return SocialClient.withTokens(baseUrl, devLogin, limits);
  }

  /**
   * A client whose tokens come from `fetchToken` (a real deployment: the app's
   * backend). Renews them on its own before they expire.
   */
  static async withTokens(baseUrl: string, fetchToken: TokenFetcher, limits: ClientLimits = {}): Promise<SocialClient> {
    const first = await fetchToken();
    const user = first.user ?? (await httpJson(baseUrl, 'GET /users/me', '/users/me', { token: first.token }));
    const client = new SocialClient(baseUrl, first.token, user, { ...limits, fetchToken, expiresAt: first.expiresAt });
    client.scheduleRefresh();
    return client;
  }

  /** The current token (renewed tokens replace it). */
  get token(): string {
    return this.currentToken;
  }

  get expiresAt(): string | undefined {
    return this.tokenExpiresAt;
  }

  /**
   * Fetches a new token now and hands it to the live socket (`auth:refresh`),
   * so the connection outlives the old token. Needs a token fetcher.
   */
  refreshToken(): Promise<void> {
    if (!this.fetchToken) return Promise.reject(new Error('no token fetcher: the client cannot renew its token'));
    this.refreshing ??= this.renew().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  get id(): string {
    return this.user.id;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /** Where the socket stands; every change is announced as the `connection-state` lifecycle event. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Calls `handler` on every change of `connectionState`. Returns an unsubscribe. */
  onConnectionState(handler: (state: ConnectionState, previous: ConnectionState) => void): () => void {
    return this.onLifecycle('connection-state', ({ state, previous }) => handler(state, previous));
  }

  /**
   * One of the catalog's routes (`'GET /calls'`) at `path` (its parameters
   * filled in, with any query), as this user; the answer is checked against
   * the route's response schema and typed by it.
   */
  route<N extends HttpJsonRouteName>(route: N, path: string, body?: unknown): Promise<HttpRouteResult<N>> {
    return httpJson(this.baseUrl, route, path, { token: this.token, body });
  }

  /**
   * Any method and path as this user, for tests of raw routes (bad input,
   * statuses, errors); use `route()` for a typed answer. The answer is checked
   * against the schema of the catalog's route the path belongs to, like
   * `route()`'s, and handed on as `unknown`.
   */
  async http(method: string, path: string, body?: unknown): Promise<unknown> {
    const route = jsonRouteOf(method, path);
    if (route) return this.route(route, path, body);
    return (await fetchJson(this.baseUrl, method, path, { token: this.token, body })).body;
  }

  /** Opens the socket; resolves once connected, rejects with UNAUTHENTICATED if refused. */
  connect(options: ConnectOptions = {}): Promise<this> {
    this.stopped = false;
    this.scheduleRefresh();
    if (this.socket?.connected) return Promise.resolve(this);
    this.cancelReconnect();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    // socket.io's own reconnection is off: its delays are capped at 1 s with little
    // spread, so the SDK schedules attempts itself (see scheduleReconnect).
    const socket = io(this.baseUrl, {
      auth: { token: this.token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    this.socket = socket;
    this.backoff = new Backoff(options.backoff);
    const reconnection = options.reconnection ?? true;
    const syncOnConnect = options.syncOnConnect ?? true;
    this.setState('connecting');
    // A push whose payload is not what the catalog says reaches no listener: it is reported instead.
    socket.onAny((event: string, payload: unknown) => {
      const refused = malformedPush(event, payload);
      if (refused) this.dispatch(this.lifecycle, 'error', { error: refused, during: event });
      else this.dispatch(this.listeners, event, payload);
    });
    socket.on('connect', () => {
      const reconnect = this.connectedOnce;
      this.connectedOnce = true;
      this.backoff.reset();
      this.renewedWhileAway = false;
      this.setState('connected');
      this.dispatch(this.lifecycle, 'connected', { reconnect });
      if (reconnect || syncOnConnect) {
        // Whatever was pushed while the socket was down is fetched from the cursor.
        this.messages.sync().catch((error) => this.dispatch(this.lifecycle, 'error', { error, during: 'dm:sync' }));
      }
    });
    socket.on('disconnect', (reason) => {
      // The server closing the socket on purpose (a revoked or expired token) is not a network failure.
      const retry = reconnection && reason !== 'io client disconnect' && reason !== 'io server disconnect';
      if (retry) this.scheduleReconnect(socket);
      else if (socket === this.socket) this.setState('disconnected');
      this.dispatch(this.lifecycle, 'disconnected', { reason });
    });
    socket.on('connect_error', (err: Error) => {
      // The token ran out while the connection was down: renew it once, then go on trying.
      if (err.message === 'UNAUTHENTICATED' && reconnection && this.connectedOnce && this.fetchToken && !this.renewedWhileAway) {
        this.renewedWhileAway = true;
        this.refreshToken().then(
          () => this.scheduleReconnect(socket),
          (error) => {
            this.dispatch(this.lifecycle, 'error', { error, during: 'reconnect' });
            if (socket === this.socket) this.setState('disconnected');
          },
        );
      } else if (REFUSALS.has(err.message)) {
        if (socket === this.socket) this.setState('disconnected');
      } else if (reconnection) this.scheduleReconnect(socket);
      else if (socket === this.socket) this.setState('disconnected');
    });
    // The server closed the socket because its token ran out: renew, then connect again.
    socket.on('auth:expired', () => {
      if (!this.fetchToken || this.stopped) return;
      this.refreshToken()
        .then(() => this.connect(options))
        .catch((error) => this.dispatch(this.lifecycle, 'error', { error, during: 'auth:expired' }));
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new ClientError({ code: 'INTERNAL', message: 'socket connect timed out' }));
      }, options.timeoutMs ?? 10_000);
      const onConnect = () => {
        cleanup();
        resolve(this);
      };
      const onError = (err: Error) => {
        if (err.message === 'UNAUTHENTICATED') {
          cleanup();
          socket.disconnect();
          reject(new ClientError({ code: 'UNAUTHENTICATED', message: 'socket refused: UNAUTHENTICATED' }));
        } else if (err.message === 'TOO_MANY_CONNECTIONS') {
          cleanup();
          socket.disconnect();
          reject(
            new ClientError({
              code: 'RATE_LIMITED',
              message: 'socket refused: TOO_MANY_CONNECTIONS',
              details: { reason: 'TOO_MANY_CONNECTIONS' },
            }),
          );
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('connect_error', onError);
      };
      socket.on('connect', onConnect);
      socket.on('connect_error', onError);
    });
  }

  /**
   * Sends a client event and waits for its ack. Data that is not the event's
   * result (as the catalog's schema says) rejects with an INTERNAL ClientError
   * naming the event and what is wrong; fields a newer server adds pass.
   */
  async request<E extends ClientEventName>(
    event: E,
    payload: ClientEvents[E]['payload'],
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<ClientEvents[E]['result']> {
    for (let attempt = 1; ; attempt++) {
      const ack = await this.rawRequest(event, payload, timeoutMs);
      if (ack.ok) {
        if (isResultOf(event, ack.data)) return ack.data;
        throw malformedResult(event, ack.data);
      }
      const retry = ack.error.code === 'RATE_LIMITED' && !NOT_RETRIED_WHEN_RATE_LIMITED.has(event) && attempt < RATE_LIMITED_ATTEMPTS;
      if (!retry) throw new ClientError(ack.error);
      await sleep(Math.min(Math.max(Number(ack.error.details?.retryAfterMs ?? 100), 10), 5_000));
    }
  }

  /**
   * Sends any event with any payload and returns the raw ack (for tests of bad
   * input). While the socket is down the event is buffered and sent on reconnect;
   * no ack within `timeoutMs` rejects with RequestTimeoutError, a connection
   * lost after sending with ConnectionLostError, an answer that is no ack
   * (`{ ok: true, data }` or `{ ok: false, error }`) with an INTERNAL ClientError.
   */
  async rawRequest(event: string, payload: unknown, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<Ack<unknown>> {
    const socket = this.requireSocket();
    let answer: unknown;
    try {
      answer = await this.requestsInFlight.run(() => socket.timeout(timeoutMs).emitWithAck(event, payload));
    } catch (err) {
      if (err instanceof Error && /timed out/.test(err.message)) throw new RequestTimeoutError(event, timeoutMs);
      if (err instanceof Error && /disconnected/.test(err.message)) throw new ConnectionLostError(event);
      throw err;
    }
    if (isAck(answer)) return answer;
    throw malformedAck(event, answer);
  }

  /**
   * Listens to a server event; works before connect() and across reconnects.
   * Returns an unsubscribe. The handler sees only payloads that are the
   * event's (a malformed push is reported as a lifecycle `error` instead).
   */
  on<E extends ServerEventName>(event: E, handler: (payload: ServerEvents[E]) => void): () => void {
    return this.addListener(this.listeners, event, (payload) => {
      if (isPayloadOf(event, payload)) handler(payload);
    });
  }

  /** Listens to the SDK's own lifecycle (connected, disconnected, background errors). */
  onLifecycle<E extends keyof ClientLifecycleEvents>(event: E, handler: (payload: ClientLifecycleEvents[E]) => void): () => void {
    return this.addListener(this.lifecycle, event, handler as Listener);
  }

  /** The next `event` whose payload satisfies `predicate`. */
  waitFor<E extends ServerEventName>(
    event: E,
    predicate: (payload: ServerEvents[E]) => boolean = () => true,
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<ServerEvents[E]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out waiting for ${event} (${this.user.handle})`));
      }, timeoutMs);
      const off = this.on(event, (payload) => {
        if (!predicate(payload)) return;
        clearTimeout(timer);
        off();
        resolve(payload);
      });
    });
  }

  /** Closes the socket for good (a later connect() opens a new one and resynchronises). */
  disconnect(): void {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.cancelReconnect();
    this.socket?.disconnect();
    this.setState('disconnected');
  }

  /** The next attempt after a lost connection or a failed attempt, after a backoff delay. */
  private scheduleReconnect(socket: Socket): void {
    if (this.stopped || socket !== this.socket || this.reconnectTimer) return;
    const delayMs = this.backoff.next();
    const attempt = this.backoff.attempts;
    // Until the first success it is still the first connect() (which has its own timeout).
    this.setState(this.connectedOnce ? 'reconnecting' : 'connecting');
    this.dispatch(this.lifecycle, 'reconnecting', { attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopped || socket !== this.socket || socket.connected) return;
      socket.connect();
    }, delayMs);
  }

  private cancelReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private setState(state: ConnectionState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.dispatch(this.lifecycle, 'connection-state', { state, previous });
  }

  private async renew(): Promise<void> {
    const next = await this.fetchToken!();
    this.currentToken = next.token;
    this.tokenExpiresAt = next.expiresAt;
    const socket = this.socket;
    if (socket) {
      socket.auth = { token: next.token };
      if (socket.connected) await this.request('auth:refresh', { token: next.token });
    }
    this.scheduleRefresh();
    this.dispatch(this.lifecycle, 'token-refreshed', { expiresAt: next.expiresAt });
  }

  /** Arms the renewal ahead of expiry; a failed renewal is tried again until it works or the token is gone. */
  private scheduleRefresh(delayMs?: number): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (!this.fetchToken || !this.tokenExpiresAt || this.stopped) return;
    const left = Date.parse(this.tokenExpiresAt) - Date.now();
    const wait = delayMs ?? Math.max(0, left - REFRESH_MARGIN_MS, left * 0.8);
    this.refreshTimer = setTimeout(
      () => {
        this.refreshToken().catch((error) => {
          this.dispatch(this.lifecycle, 'error', { error, during: 'token refresh' });
          if (Date.parse(this.tokenExpiresAt ?? '') > Date.now()) this.scheduleRefresh(REFRESH_RETRY_MS);
        });
      },
      Math.min(wait, 2 ** 31 - 1),
    );
    // In Node a pending renewal must not keep the process alive.
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  private addListener(registry: Map<string, Set<Listener>>, event: string, listener: Listener): () => void {
    let set = registry.get(event);
    if (!set) registry.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  private dispatch(registry: Map<string, Set<Listener>>, event: string, payload: unknown): void {
    const set = registry.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        // A throwing listener must not starve the others nor kill the socket loop.
        if (registry !== this.lifecycle) this.dispatch(this.lifecycle, 'error', { error, during: event });
      }
    }
  }

  private requireSocket(): Socket {
    if (!this.socket) throw new Error('not connected: call connect() first');
    return this.socket;
  }
}
