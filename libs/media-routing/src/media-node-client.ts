import type { CallMedia, MediaKind } from '@app/contracts';
import type {
  ConnectTransportParams,
  CreateTransportOptions,
  JoinRequest,
  MediaNodeApi,
  MediaNodeMethod,
  PlainRtpAddressing,
} from './media-node-api';

/** Sends one method call to a node and returns its answer (MediaCluster.request: timeout, metrics, liveness). */
export type MediaNodeCall = (method: MediaNodeMethod, args: unknown[]) => Promise<unknown>;

/**
 * One media node's room API as seen from a gateway: each method is sent
 * over the media bus (or called directly when the node is this process).
 * Implementing MediaNodeApi method by method makes the compiler check every
 * argument list and result against the node's side.
 */
export class MediaNodeClient implements MediaNodeApi {
  constructor(
    readonly nodeId: string,
    private readonly call: MediaNodeCall,
  ) {}

  openRoom(callId: string, media: CallMedia, participantIds: [string, string]) {
    return this.send('openRoom', [callId, media, participantIds]);
  }

  closeRoom(callId: string, ended = false) {
    // A close that is no end keeps the previous version's form, which a node not yet upgraded reads.
    return this.send('closeRoom', ended ? [callId, true] : [callId]);
  }

  capabilities(callId: string, userId: string) {
    return this.send('capabilities', [callId, userId]);
  }

  transportKind(callId: string, userId: string, transportId: string) {
    return this.send('transportKind', [callId, userId, transportId]);
  }

  createTransport(callId: string, userId: string, options: CreateTransportOptions & PlainRtpAddressing) {
    return this.send('createTransport', [callId, userId, options]);
  }

  connectTransport(callId: string, userId: string, transportId: string, params: ConnectTransportParams & PlainRtpAddressing) {
    return this.send('connectTransport', [callId, userId, transportId, params]);
  }

  produce(callId: string, userId: string, transportId: string, kind: MediaKind, rtpParameters: Record<string, unknown>) {
    return this.send('produce', [callId, userId, transportId, kind, rtpParameters]);
  }

  consume(callId: string, userId: string, transportId: string, producerId: string, rtpCapabilities: Record<string, unknown>) {
    return this.send('consume', [callId, userId, transportId, producerId, rtpCapabilities]);
  }

  resume(callId: string, userId: string, consumerId: string) {
    return this.send('resume', [callId, userId, consumerId]);
  }

  join(callId: string, userId: string, request: JoinRequest) {
    return this.send('join', [callId, userId, request]);
  }

  closeVideoProducers(callId: string) {
    return this.send('closeVideoProducers', [callId]);
  }

  ping() {
    return this.send('ping', []);
  }

  private send<K extends MediaNodeMethod>(method: K, args: Parameters<MediaNodeApi[K]>): ReturnType<MediaNodeApi[K]> {
    return this.call(method, args) as ReturnType<MediaNodeApi[K]>;
  }
}
