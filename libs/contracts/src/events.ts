/** Socket event names and their payload/ack types, both directions. */
import type * as S from './schemas';
import type { CallDto, EvaluatedFlags, MessageDto } from './models';
import type { CallQualityDto, ConsumerAddedDto, ConsumerInfoDto, MediaJoinResultDto, ProducerSummaryDto } from './response-schemas';

export interface TransportInfoWebRtc {
  transportId: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}
export interface TransportInfoPlain {
  transportId: string;
  ip: string;
  port: number;
  /** When created with rtcpMux: false: RTCP's own port. */
  rtcpPort?: number;
}

/** client → server: payload and the `data` of a successful ack. */
export interface ClientEvents {
  'dm:send': { payload: S.DmSend; result: { message: MessageDto; duplicate?: boolean } };
  'dm:history': { payload: S.DmHistory; result: { messages: MessageDto[]; nextBeforeSeq: number | null } };
  'dm:read': { payload: S.DmRead; result: Record<string, never> };
  'dm:typing': { payload: S.DmTyping; result: Record<string, never> };
  'dm:sync': { payload: S.DmSync; result: { messages: MessageDto[]; cursor: string; hasMore?: boolean } };
  'call:invite': { payload: S.CallInvite; result: { call: CallDto } };
  'call:accept': { payload: S.CallAccept; result: { call: CallDto; media?: MediaJoinResultDto } };
  'call:decline': { payload: S.CallRef; result: { call: CallDto } };
  'call:cancel': { payload: S.CallRef; result: { call: CallDto } };
  'call:hangup': { payload: S.CallRef; result: { call: CallDto } };
  'media:capabilities': { payload: S.CallRef; result: { rtpCapabilities: Record<string, unknown>; producers: ProducerSummaryDto[] } };
  'media:create-transport': { payload: S.MediaCreateTransport; result: TransportInfoWebRtc | TransportInfoPlain };
  'media:connect-transport': { payload: S.MediaConnectTransport; result: Record<string, never> };
  'media:produce': { payload: S.MediaProduce; result: { producerId: string } };
  'media:consume': { payload: S.MediaConsume; result: ConsumerInfoDto };
  'media:resume': { payload: S.MediaResume; result: Record<string, never> };
  'media:join': { payload: S.MediaJoin; result: MediaJoinResultDto };
  'auth:refresh': { payload: S.AuthRefresh; result: { expiresAt: string } };
}

export type ClientEventName = keyof ClientEvents;

export const CLIENT_EVENT_NAMES: readonly ClientEventName[] = [
  'dm:send',
  'dm:history',
  'dm:read',
  'dm:typing',
  'dm:sync',
  'call:invite',
  'call:accept',
  'call:decline',
  'call:cancel',
  'call:hangup',
  'media:capabilities',
  'media:create-transport',
  'media:connect-transport',
  'media:produce',
  'media:consume',
  'media:resume',
  'media:join',
  'auth:refresh',
];

/** server → client pushes. */
export interface ServerEvents {
  'dm:new': { message: MessageDto };
  'dm:read': { conversationId: string; readerId: string; upToSeq: number };
  'dm:typing': { from: string };
  'call:incoming': { call: CallDto };
  'call:state': { call: CallDto };
  'call:ending-soon': { callId: string; endsAt: string };
  'media:producer-added': { callId: string; producerId: string; userId: string; kind: 'audio' | 'video' };
  'media:producer-closed': { callId: string; producerId: string; reason: string };
  'flags:changed': { flags: EvaluatedFlags };
  /** `userId` added or removed you as a contact; `mutual`: whether you now have each other. */
  'contacts:changed': { userId: string; change: 'added' | 'removed'; mutual: boolean };
  'auth:expired': Record<string, never>;
  'media:restart': { callId: string; reason: S.MediaRestartReason };
  'media:consumer-added': ConsumerAddedDto;
  'call:quality': CallQualityDto;
}

export type ServerEventName = keyof ServerEvents;

export const SERVER_EVENT_NAMES: readonly ServerEventName[] = [
  'dm:new',
  'dm:read',
  'dm:typing',
  'call:incoming',
  'call:state',
  'call:ending-soon',
  'media:producer-added',
  'media:producer-closed',
  'flags:changed',
  'contacts:changed',
  'auth:expired',
  'media:restart',
  'media:consumer-added',
  'call:quality',
];
