import { io, Socket } from 'socket.io-client';
import type {
  Ack,
  ClientEventName,
  ClientEvents,
  ServerEventName,
  ServerEvents,
  UserDto,
} from '@app/contracts';
import { CallsApi } from './calls';
import { ClientError, ConnectionLostError, RequestTimeoutError } from './client-error';
import { ContactsApi, UsersApi } from './contacts';
import { FlagsApi } from './flags';
import { httpJson } from './http-api';
import { MessagesApi } from './messages';

export interface ConnectOptions {
  /** Reconnect after a lost connection (default true). */
  reconnection?: boolean;
  timeoutMs?: number;
  /**
   * Fetch what arrived while away (`dm:sync`) right after connecting, in the
   * background (default true). Reconnections always resynchronise.
   */
  syncOnConnect?: boolean;
}

/** Lifecycle notifications of the SDK itself (not protocol events). */
export interface ClientLifecycleEvents {
  connected: { reconnect: boolean };
  disconnected: { reason: string };
  /** A background task (inbox sync after a reconnect) failed. */
  error: { error: unknown; during: string };
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

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

  constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly user: UserDto,
  ) {
    this.users = new UsersApi(this);
    this.contacts = new ContactsApi(this);
    this.messages = new MessagesApi(this);
    this.calls = new CallsApi(this);
    this.flags = new FlagsApi(this);
  }

  /** `POST /auth/dev-login`: creates the user on first use. */
  static async login(baseUrl: string, handle: string, displayName?: string): Promise<SocialClient> {
    const { token, user } = await httpJson<{ token: string; user: UserDto }>(baseUrl, 'POST', '/auth/dev-login', {
      body: displayName === undefined ? { handle } : { handle, displayName },
    });
    return new SocialClient(baseUrl, token, user);
  }

  get id(): string {
    return this.user.id;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  http<T>(method: string, path: string, body?: unknown): Promise<T> {
    return httpJson<T>(this.baseUrl, method, path, { token: this.token, body });
  }

  /** Opens the socket; resolves once connected, rejects with UNAUTHENTICATED if refused. */
  connect(options: ConnectOptions = {}): Promise<this> {
    if (this.socket?.connected) return Promise.resolve(this);
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    const socket = io(this.baseUrl, {
      auth: { token: this.token },
      transports: ['websocket'],
      reconnection: options.reconnection ?? true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      forceNew: true,
    });
    this.socket = socket;
    const syncOnConnect = options.syncOnConnect ?? true;
    socket.onAny((event: string, payload: unknown) => this.dispatch(this.listeners, event, payload));
    socket.on('connect', () => {
      const reconnect = this.connectedOnce;
      this.connectedOnce = true;
      this.dispatch(this.lifecycle, 'connected', { reconnect });
      if (reconnect || syncOnConnect) {
        // Whatever was pushed while the socket was down is fetched from the cursor.
        this.messages.sync().catch((error) => this.dispatch(this.lifecycle, 'error', { error, during: 'dm:sync' }));
      }
    });
    socket.on('disconnect', (reason) => this.dispatch(this.lifecycle, 'disconnected', { reason }));
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

  /** Sends a client event and waits for its ack. */
  async request<E extends ClientEventName>(
    event: E,
    payload: ClientEvents[E]['payload'],
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<ClientEvents[E]['result']> {
    const ack = await this.rawRequest(event, payload, timeoutMs);
    if (ack.ok) return ack.data as ClientEvents[E]['result'];
    throw new ClientError(ack.error);
  }

  /**
   * Sends any event with any payload and returns the raw ack (for tests of bad
   * input). While the socket is down the event is buffered and sent on reconnect;
   * no ack within `timeoutMs` rejects with RequestTimeoutError, a connection
   * lost after sending with ConnectionLostError.
   */
  async rawRequest(event: string, payload: unknown, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<Ack<unknown>> {
    const socket = this.requireSocket();
    try {
      return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack<unknown>;
    } catch (err) {
      if (err instanceof Error && /timed out/.test(err.message)) throw new RequestTimeoutError(event, timeoutMs);
      if (err instanceof Error && /disconnected/.test(err.message)) throw new ConnectionLostError(event);
      throw err;
    }
  }

  /** Listens to a server event; works before connect() and across reconnects. Returns an unsubscribe. */
  on<E extends ServerEventName>(event: E, handler: (payload: ServerEvents[E]) => void): () => void {
    return this.addListener(this.listeners, event, handler as Listener);
  }

  /** Listens to the SDK's own lifecycle (connected, disconnected, background errors). */
  onLifecycle<E extends keyof ClientLifecycleEvents>(
    event: E,
    handler: (payload: ClientLifecycleEvents[E]) => void,
  ): () => void {
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
    this.socket?.disconnect();
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
