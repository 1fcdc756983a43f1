/**
 * The room operations a media node serves, as one typed interface. The node
 * host implements it over the media bus, the routing client calls it; in
 * NODE_ROLE=all the call is direct. A rename here fails to compile on both
 * sides. Nothing here names a mediasoup type: gateway and calls code see only
 * these shapes.
 */
import type {
  CallMedia,
  CallQualityLegDto,
  ConsumerInfoDto,
  MediaKind,
  MediaStatsDto,
  ProducerSummaryDto,
  TransportInfoDto,
  TransportType,
} from '@app/contracts';

export type TransportDirection = 'send' | 'recv';
export type TransportKind = 'webrtc' | 'plain-send' | 'plain-recv';

export interface CreateTransportOptions {
  direction: TransportDirection;
  type: TransportType;
  /** Plain only: false gives RTCP its own port. */
  rtcpMux?: boolean;
}

export interface ConnectTransportParams {
  dtlsParameters?: Record<string, unknown>;
  ip?: string;
  port?: number;
  rtcpPort?: number;
}

/** A new producer, and the participant's earlier producers of its kind it replaced (closed now). */
export interface ProduceResult extends ProducerSummaryDto {
  replacedProducerIds: string[];
}

/** A plain-RTP policy decision the node applies again itself (defence in depth). */
export interface PlainRtpAddressing {
  /** The participant's socket address as its gateway saw it. */
  clientAddress?: string;
}

export interface JoinRequest extends PlainRtpAddressing {
  rtpCapabilities?: Record<string, unknown>;
  send?: {
    type: TransportType;
    rtcpMux: boolean;
    /** Plain: the only source RTP is accepted from (default: clientAddress). */
    ip?: string;
    port?: number;
    rtcpPort?: number;
    produce?: { kind: MediaKind; rtpParameters: Record<string, unknown> }[];
  };
  recv?: { type: TransportType; rtcpMux: boolean; ip?: string; port?: number; rtcpPort?: number };
}

export interface JoinResult {
  rtpCapabilities: Record<string, unknown>;
  producers: ProducerSummaryDto[];
  send?: TransportInfoDto & { producers: { kind: MediaKind; producerId: string }[] };
  recv?: TransportInfoDto;
  consumers: ConsumerInfoDto[];
  /** Producers this join created replaced these earlier ones (announce them closed). */
  replacedProducerIds: string[];
}

/** A consumer the node made on its own for a participant who joined with rtpCapabilities. */
export interface AutoConsumed extends ConsumerInfoDto {
  callId: string;
  userId: string;
}

/** One interval's legs of a call, as the SFU measured them. */
export interface RoomQualitySample {
  callId: string;
  at: string;
  legs: CallQualityLegDto[];
}

export interface MediaNodeApi {
  openRoom(callId: string, media: CallMedia, participantIds: [string, string]): Promise<void>;
  /**
   * Closes everything the call opened; its statistics, or null when it had no
   * room here. `ended`: the call is over, so an opening of its room that
   * reaches the node after this close (sent before the end, overtaken on the
   * way) is refused instead of leaving a room nobody closes.
   */
  closeRoom(callId: string, ended?: boolean): Promise<MediaStatsDto | null>;
  capabilities(callId: string, userId: string): Promise<{ rtpCapabilities: Record<string, unknown>; producers: ProducerSummaryDto[] }>;
  transportKind(callId: string, userId: string, transportId: string): Promise<TransportKind>;
  createTransport(callId: string, userId: string, options: CreateTransportOptions & PlainRtpAddressing): Promise<TransportInfoDto>;
  connectTransport(callId: string, userId: string, transportId: string, params: ConnectTransportParams & PlainRtpAddressing): Promise<void>;
  produce(
    callId: string,
    userId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: Record<string, unknown>,
  ): Promise<ProduceResult>;
  consume(
    callId: string,
    userId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Record<string, unknown>,
  ): Promise<ConsumerInfoDto>;
  resume(callId: string, userId: string, consumerId: string): Promise<void>;
  /** Everything of `media:join` in one request; on failure nothing it made is left behind. */
  join(callId: string, userId: string, request: JoinRequest): Promise<JoinResult>;
  closeVideoProducers(callId: string): Promise<ProducerSummaryDto[]>;
  ping(): Promise<boolean>;
}

export type MediaNodeMethod = keyof MediaNodeApi;

/**
 * What a media node tells the gateways on its own, beside answering
 * requests. Quality samples and auto-consumed consumers go to every gateway;
 * each pushes them only to the participants' sockets it holds itself, so a
 * user hears each exactly once whichever process the socket is on.
 */
export type MediaNodePush =
  | { type: 'quality'; nodeId: string; sample: RoomQualitySample; participantIds: [string, string] }
  | { type: 'consumer-added'; nodeId: string; consumer: AutoConsumed };
