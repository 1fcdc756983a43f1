import { io, Socket } from 'socket.io-client';
import type {
  Ack,
  ClientEventName,
  ClientEvents,
  ServerEventName,
  ServerEvents,
  UserDto,
} from '@app/contracts';
import { ClientError } from './client-error';
import { httpJson } from './http-api';

export interface ConnectOptions {
  /** Reconnect after a lost connection (default true). */
  reconnection?: boolean;
  timeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * A signed-in user of the backend: HTTP calls and one socket, with every ack
 * turned into a result or a ClientError. Knows the protocol only.
 */
export class SocialClient {
  socket?: Socket;

  constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly user: UserDto,
  ) {}

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

  http<T>(method: string, path: string, body?: unknown): Promise<T> {
    return httpJson<T>(this.baseUrl, method, path, { token: this.token, body });
  }

  /** Opens the socket; resolves once connected, rejects with UNAUTHENTICATED if refused. */
  connect(options: ConnectOptions = {}): Promise<this> {
    const socket = io(this.baseUrl, {
      auth: { token: this.token },
      transports: ['websocket'],
      reconnection: options.reconnection ?? true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      forceNew: true,
    });
    this.socket = socket;
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

  /** Sends any event with any payload and returns the raw ack (for tests of bad input). */
  rawRequest(event: string, payload: unknown, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<Ack<unknown>> {
    const socket = this.requireSocket();
    return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<Ack<unknown>>;
  }

  on<E extends ServerEventName>(event: E, handler: (payload: ServerEvents[E]) => void): () => void {
    const socket = this.requireSocket();
    const listener = handler as (...args: unknown[]) => void;
    socket.on(event as string, listener);
    return () => socket.off(event as string, listener);
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

  disconnect(): void {
    this.socket?.disconnect();
  }

  private requireSocket(): Socket {
    if (!this.socket) throw new Error('not connected: call connect() first');
    return this.socket;
  }
}
