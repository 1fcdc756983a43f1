import type { CallDto, CallMedia, CallState, CallQualityDto, ConsumerAddedDto, MediaJoinResultDto, schemas } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { Page, pageQueryString } from './http-api';
import type { SocialClient } from './social-client';

type MediaJoinOptions = schemas.MediaJoinOptions;

const DEFAULT_WAIT_MS = 10_000;
/** Calls whose latest state is remembered (the most recently heard of). */
export const DEFAULT_REMEMBERED_CALLS = 1_000;

/**
 * 1:1 calls: the `call:*` requests, the pushes (`call:incoming`,
 * `call:state`, `call:ending-soon`) and the latest known state of each call.
 */
export class CallsApi {
  private readonly known: BoundedMap<string, CallDto>;

  constructor(
    private readonly client: SocialClient,
    capacity = DEFAULT_REMEMBERED_CALLS,
  ) {
    this.known = new BoundedMap(capacity);
    client.on('call:incoming', ({ call }) => this.remember(call));
    client.on('call:state', ({ call }) => this.remember(call));
  }

  /** `call:invite`: rings `to`; NOT_FRIENDS, BLOCKED, BUSY or VIDEO_CALL_DISABLED when refused. */
  async invite(to: string, media: CallMedia = 'audio'): Promise<CallDto> {
    return this.remember((await this.client.request('call:invite', { to, media })).call);
  }

  /** `call:accept` (callee only). */
  async accept(callId: string): Promise<CallDto> {
    return this.remember((await this.client.request('call:accept', { callId })).call);
  }

  /**
   * `call:accept { callId, join }` (callee only): answers and joins the
   * call's media in one request; `media` is what `media:join` would answer.
   */
  async acceptWithJoin(callId: string, join: MediaJoinOptions): Promise<{ call: CallDto; media?: MediaJoinResultDto }> {
    const { call, media } = await this.client.request('call:accept', { callId, join });
    return { call: this.remember(call), media };
  }

  /** `call:decline` (callee only). */
  async decline(callId: string): Promise<CallDto> {
    return this.remember((await this.client.request('call:decline', { callId })).call);
  }

  /** `call:cancel` (caller, while ringing). */
  async cancel(callId: string): Promise<CallDto> {
    return this.remember((await this.client.request('call:cancel', { callId })).call);
  }

  /** `call:hangup` (either participant, while active). */
  async hangup(callId: string): Promise<CallDto> {
    return this.remember((await this.client.request('call:hangup', { callId })).call);
  }

  /** `GET /calls`: own call history, newest first. */
  async history(limit?: number): Promise<CallDto[]> {
    const qs = limit === undefined ? '' : `?limit=${limit}`;
    return (await this.client.route('GET /calls', `/calls${qs}`)).calls;
  }

  /** `GET /calls?limit=&cursor=`: one page of the history, newest first. */
  async historyPage(page: { limit?: number; cursor?: string } = {}): Promise<Page<CallDto>> {
    const res = await this.client.route('GET /calls', `/calls${pageQueryString(page)}`);
    return { items: res.calls, nextCursor: res.nextCursor };
  }

  /** Latest state heard of (ack or push), if any. */
  get(callId: string): CallDto | undefined {
    return this.known.get(callId);
  }

  onIncoming(handler: (call: CallDto) => void): () => void {
    return this.client.on('call:incoming', ({ call }) => handler(call));
  }

  onState(handler: (call: CallDto) => void): () => void {
    return this.client.on('call:state', ({ call }) => handler(call));
  }

  onEndingSoon(handler: (event: { callId: string; endsAt: string }) => void): () => void {
    return this.client.on('call:ending-soon', handler);
  }

  /** `call:quality`: what the SFU measured of each leg of an active call, every CALL_QUALITY_INTERVAL_MS. */
  onQuality(handler: (quality: CallQualityDto) => void): () => void {
    return this.client.on('call:quality', handler);
  }

  /** `media:consumer-added`: a producer of the other participant consumed for this client (it joined with rtpCapabilities). */
  onConsumerAdded(handler: (consumer: ConsumerAddedDto) => void): () => void {
    return this.client.on('media:consumer-added', handler);
  }

  /** The next incoming call, optionally only from `callerId`. */
  async waitForIncoming(callerId?: string, timeoutMs = DEFAULT_WAIT_MS): Promise<CallDto> {
    const { call } = await this.client.waitFor(
      'call:incoming',
      ({ call }) => callerId === undefined || call.callerId === callerId,
      timeoutMs,
    );
    return call;
  }

  /** Resolves once this client has heard of the call (the callee: its `call:incoming`), now or already. */
  async waitForCall(callId: string, timeoutMs = DEFAULT_WAIT_MS): Promise<CallDto> {
    const current = this.known.get(callId);
    if (current) return current;
    const { call } = await this.client.waitFor('call:incoming', ({ call }) => call.id === callId, timeoutMs);
    return this.known.get(callId) ?? call;
  }

  /** Resolves once the call is (or already was) in `state`. */
  async waitForState(callId: string, state: CallState, timeoutMs = DEFAULT_WAIT_MS): Promise<CallDto> {
    const current = this.known.get(callId);
    if (current?.state === state) return current;
    if (current?.state === 'ended') throw new Error(`call ${callId} already ended (${current.endReason})`);
    const { call } = await this.client.waitFor(
      'call:state',
      ({ call }) => call.id === callId && (call.state === state || call.state === 'ended'),
      timeoutMs,
    );
    if (call.state !== state) throw new Error(`call ${callId} ended (${call.endReason}) before reaching ${state}`);
    return call;
  }

  private remember(call: CallDto): CallDto {
    const previous = this.known.get(call.id);
    // Pushes and acks can cross; never go back from ended, nor from active to ringing.
    if (!previous || rank(call.state) >= rank(previous.state)) this.known.set(call.id, call);
    return call;
  }
}

function rank(state: CallState): number {
  return state === 'ringing' ? 0 : state === 'active' ? 1 : 2;
}
