// The SDK's core: everything that runs in Node and in a page (HTTP, socket.io,
// the protocol's requests and events, connection state). No media.
export * from './client-error';
export * from './sleep';
export * from './backoff';
export * from './bounded-map';
export * from './in-flight-limit';
export * from './http-api';
export * from './social-client';
export * from './messages';
export * from './contacts';
export * from './calls';
export * from './flags';
export * from './admin';
export { isAck, isHttpResultOf, isPayloadOf, isResultOf } from './protocol-checks';
// The protocol's shapes, as types. Of libs/contracts, the catalog's schemas are
// bundled: the SDK checks what the server sends against them (protocol-checks).
export type {
  Ack,
  CallDto,
  CallEndReason,
  CallMedia,
  CallQualityDto,
  CallQualityLegDto,
  CallState,
  ClientEventName,
  ClientEvents,
  ConsumerAddedDto,
  ConsumerInfoDto,
  ContactDto,
  ConversationDto,
  ErrorBody,
  ErrorCode,
  EvaluatedFlags,
  FlagAuditEntryDto,
  FlagDefinitionDto,
  HttpJsonRouteName,
  HttpRouteResult,
  MediaJoinResultDto,
  MessageDto,
  MessageKind,
  ServerEventName,
  ServerEvents,
  TransportInfoDto,
  UserDto,
} from '@app/contracts';
