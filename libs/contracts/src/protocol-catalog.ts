/**
 * The protocol as data, and its one source: every socket event (both
 * directions) with its payload and acknowledgement schemas, and every HTTP
 * route. The event names and the `ClientEvents`/`ServerEvents` types the
 * SDK, the demo and the server compile against (events.ts) and the published
 * AsyncAPI and OpenAPI documents are derived from it, and its payload schemas
 * are the very objects (schemas.ts) the gateway validates with. To add an
 * event, add it here; nothing else declares one.
 */
import { z } from 'zod';
import { contactChange, mediaKind, mediaRestartReason } from './enums';
import * as R from './response-schemas';
import * as S from './schemas';

/** The version of the published documents: raised when an event, route or field is added. */
export const PROTOCOL_VERSION = '1.3.0';

export interface ClientEventSpec {
  summary: string;
  payload: z.ZodTypeAny;
  /** The `data` of a successful acknowledgement. */
  result: z.ZodTypeAny;
}

export interface ServerEventSpec {
  summary: string;
  payload: z.ZodTypeAny;
}

const anyJson = z.record(z.string(), z.unknown());
const messages = z.object({ messages: z.array(R.messageDto), nextBeforeSeq: z.number().int().nullable() });
const callResult = z.object({ call: R.callDto });

export const CLIENT_EVENT_SPECS = {
  'dm:send': {
    summary: 'Send a direct message; a repeated clientMsgId returns the stored message (duplicate: true).',
    payload: S.dmSend,
    result: z.object({ message: R.messageDto, duplicate: z.boolean().optional() }),
  },
  'dm:history': { summary: 'A page of a conversation, newest first.', payload: S.dmHistory, result: messages },
  'dm:read': { summary: 'Move your read mark in a conversation.', payload: S.dmRead, result: R.empty },
  'dm:typing': { summary: 'Tell the other user you are typing.', payload: S.dmTyping, result: R.empty },
  'dm:sync': {
    summary: 'Everything addressed to you or sent by you after the cursor, oldest first.',
    payload: S.dmSync,
    result: z.object({ messages: z.array(R.messageDto), cursor: z.string(), hasMore: z.boolean().optional() }),
  },
  'call:invite': { summary: 'Call a mutual contact.', payload: S.callInvite, result: callResult },
  'call:accept': {
    summary: 'Answer a ringing call (callee); with `join`, also join its media (the answer then carries `media`).',
    payload: S.callAccept,
    result: callResult.extend({ media: R.mediaJoinResult.optional() }),
  },
  'call:decline': { summary: 'Refuse a ringing call (callee).', payload: S.callRef, result: callResult },
  'call:cancel': { summary: 'Withdraw a ringing call (caller).', payload: S.callRef, result: callResult },
  'call:hangup': { summary: 'End an active call (either participant).', payload: S.callRef, result: callResult },
  'media:capabilities': {
    summary: "The call router's RTP capabilities and the other participant's live producers.",
    payload: S.mediaCapabilities,
    result: z.object({ rtpCapabilities: anyJson, producers: z.array(R.producerSummary) }),
  },
  'media:create-transport': {
    summary: 'A WebRTC or plain-RTP transport for sending or receiving.',
    payload: S.mediaCreateTransport,
    result: R.transportInfo,
  },
  'media:connect-transport': {
    summary: 'DTLS parameters (WebRTC) or the remote address (plain RTP).',
    payload: S.mediaConnectTransport,
    result: R.empty,
  },
  'media:produce': {
    summary: 'Send a track.',
    payload: S.mediaProduce,
    result: z.object({ producerId: z.string() }),
  },
  'media:consume': {
    summary: "Receive the other participant's producer (starts paused).",
    payload: S.mediaConsume,
    result: R.consumerInfo,
  },
  'media:resume': { summary: 'Start a paused consumer.', payload: S.mediaResume, result: R.empty },
  'media:join': {
    summary:
      "Set up a participant's media in one request: capabilities, a send and a receive transport, plain producers, and (with rtpCapabilities) the other participant's producers consumed and resumed, now and as they appear.",
    payload: S.mediaJoin,
    result: R.mediaJoinResult,
  },
  'auth:refresh': {
    summary: "Swap this socket's token for a newer one of the same user, so it outlives the old token.",
    payload: S.authRefresh,
    result: z.object({ expiresAt: z.string().datetime({ offset: true }) }),
  },
} as const satisfies Record<string, ClientEventSpec>;

export const SERVER_EVENT_SPECS = {
  'dm:new': { summary: 'A message to or from you (from another of your sockets).', payload: z.object({ message: R.messageDto }) },
  'dm:read': {
    summary: 'A participant moved their read mark.',
    payload: z.object({ conversationId: z.string().uuid(), readerId: z.string().uuid(), upToSeq: z.number().int() }),
  },
  'dm:typing': { summary: 'The other user is typing.', payload: z.object({ from: z.string().uuid() }) },
  'call:incoming': { summary: 'Someone is calling you.', payload: callResult },
  'call:state': { summary: 'A call of yours changed.', payload: callResult },
  'call:ending-soon': {
    summary: 'The duration cap will end the call at endsAt.',
    payload: z.object({ callId: z.string().uuid(), endsAt: z.string().datetime({ offset: true }) }),
  },
  'media:producer-added': {
    summary: 'The other participant started sending a track.',
    payload: z.object({ callId: z.string().uuid(), producerId: z.string(), userId: z.string().uuid(), kind: mediaKind }),
  },
  'media:producer-closed': {
    summary: 'A track stopped (reason: e.g. flag_off).',
    payload: z.object({ callId: z.string().uuid(), producerId: z.string(), reason: z.string() }),
  },
  'flags:changed': {
    summary: 'Your evaluated feature flags (on connect and on every change).',
    payload: z.object({ flags: R.evaluatedFlags }),
  },
  'contacts:changed': {
    summary: 'Someone added or removed you as a contact; mutual tells whether you now have each other.',
    payload: z.object({ userId: z.string().uuid(), change: contactChange, mutual: z.boolean() }),
  },
  'auth:expired': { summary: "This socket's token expired unrefreshed; the socket is closed next.", payload: R.empty },
  'media:restart': {
    summary:
      'The call’s media moved to a new room: drop its transports, producers and consumers and negotiate again from media:capabilities.',
    payload: z.object({ callId: z.string().uuid(), reason: mediaRestartReason }),
  },
  'media:consumer-added': {
    summary: 'A producer of the other participant consumed for you (you joined with rtpCapabilities), already resumed.',
    payload: R.consumerAdded,
  },
  'call:quality': {
    summary: 'What the SFU measured of each producer and consumer of the call over the last interval (every CALL_QUALITY_INTERVAL_MS).',
    payload: R.callQuality,
  },
} as const satisfies Record<string, ServerEventSpec>;

/** `apiKey`: the operator's backend, with AUTH_API_KEY. */
export type HttpAuth = 'none' | 'user' | 'admin' | 'apiKey';

export interface HttpRouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Express-style: `/contacts/:userId`. */
  path: string;
  summary: string;
  auth: HttpAuth;
  params?: Record<string, z.ZodTypeAny>;
  query?: z.AnyZodObject;
  body?: z.ZodTypeAny;
  /** JSON result of a success; or the media type of a non-JSON one. */
  response: z.ZodTypeAny | { contentType: string };
  /** 503 as well as 200 (health). */
  unavailable?: boolean;
}

const userId = { userId: S.userIdParam };
const issuedToken = z.object({ token: z.string(), user: R.userDto, expiresAt: z.string().datetime({ offset: true }) });
const nextCursor = S.pageCursor.nullable().describe('The cursor of the next page; null on the last');
const flagKey = { key: S.flagKeyParam };

// Each route keeps its own types here (HttpRouteResult is derived from them); HTTP_ROUTE_SPECS is the list.
const HTTP_ROUTES = [
  {
    method: 'POST',
    path: '/auth/dev-login',
    summary: 'Sign in by handle (creates the user on first use); 404 when AUTH_DEV_LOGIN is off (production).',
    auth: 'none',
    body: S.devLoginBody,
    response: issuedToken,
  },
  {
    method: 'POST',
    path: '/auth/tokens',
    summary: "Server to server: a token for one of the operator's users (creates the user on first use); 404 without AUTH_API_KEY.",
    auth: 'apiKey',
    body: S.issueTokenBody,
    response: issuedToken,
  },
  {
    method: 'POST',
    path: '/admin/users/:id/revoke-tokens',
    summary: "Refuse every token issued to the user so far and close the user's sockets on every process.",
    auth: 'admin',
    params: { id: S.userIdParam },
    response: R.empty,
  },
  { method: 'GET', path: '/users/me', summary: 'The signed-in user.', auth: 'user', response: R.userDto },
  {
    method: 'GET',
    path: '/users/by-handle/:handle',
    summary: 'A user by handle.',
    auth: 'user',
    params: { handle: S.handleSchema },
    response: R.userDto,
  },
  {
    method: 'GET',
    path: '/contacts',
    summary: 'Your contacts: favourites first, then most recent conversation.',
    auth: 'user',
    query: S.pageQuery,
    response: z.object({ contacts: z.array(R.contactDto), nextCursor }),
  },
  {
    method: 'PUT',
    path: '/contacts/:userId',
    summary: 'Add a contact (or change favourite).',
    auth: 'user',
    params: userId,
    body: S.contactPutBody,
    response: R.contactDto,
  },
  { method: 'DELETE', path: '/contacts/:userId', summary: 'Remove a contact.', auth: 'user', params: userId, response: R.empty },
  {
    method: 'GET',
    path: '/blocks',
    summary: 'Users you blocked.',
    auth: 'user',
    query: S.pageQuery,
    response: z.object({
      blocks: z.array(z.object({ user: R.userDto, blockedAt: z.string().datetime({ offset: true }) })),
      nextCursor,
    }),
  },
  { method: 'PUT', path: '/blocks/:userId', summary: 'Block a user.', auth: 'user', params: userId, response: R.empty },
  { method: 'DELETE', path: '/blocks/:userId', summary: 'Unblock a user.', auth: 'user', params: userId, response: R.empty },
  {
    method: 'GET',
    path: '/conversations',
    summary: 'Your conversations, most recent first.',
    auth: 'user',
    query: S.pageQuery,
    response: z.object({ conversations: z.array(R.conversationDto), nextCursor }),
  },
  {
    method: 'GET',
    path: '/conversations/:id/messages',
    summary: 'A page of a conversation, newest first.',
    auth: 'user',
    params: { id: S.uuid },
    query: S.messagesQuery,
    response: messages,
  },
  {
    method: 'GET',
    path: '/calls',
    summary: 'Your call history, newest first.',
    auth: 'user',
    query: S.callsQuery,
    response: z.object({ calls: z.array(R.callDto), nextCursor }),
  },
  {
    method: 'GET',
    path: '/flags',
    summary: 'Feature flags evaluated for you.',
    auth: 'user',
    response: z.object({ flags: R.evaluatedFlags }),
  },
  {
    method: 'GET',
    path: '/admin/flags',
    summary: 'Every flag definition.',
    auth: 'admin',
    response: z.object({ flags: z.array(R.flagDefinitionDto) }),
  },
  {
    method: 'PUT',
    path: '/admin/flags/:key',
    summary: 'Change (or create) a flag; audited and pushed at once.',
    auth: 'admin',
    params: flagKey,
    body: S.adminFlagPutRequest,
    response: R.flagDefinitionDto,
  },
  {
    method: 'GET',
    path: '/admin/flags/:key/audit',
    summary: "A flag's changes, newest first.",
    auth: 'admin',
    params: flagKey,
    query: z.object({ limit: z.number().int().min(1).max(500).optional() }),
    response: z.object({ entries: z.array(R.flagAuditEntryDto) }),
  },
  {
    method: 'GET',
    path: '/admin/flags/:key/exposures',
    summary: 'Who saw which value of the flag: one row per user and value, with first and last time and a count.',
    auth: 'admin',
    params: flagKey,
    query: S.exposuresQuery,
    response: z.object({ exposures: z.array(R.exposureDto), nextCursor }),
  },
  {
    method: 'GET',
    path: '/admin/flags/:key/report',
    summary:
      "The flag's experiment per variant: exposed users, calls attempted, refused and answered, duration, set-up time and media quality.",
    auth: 'admin',
    params: flagKey,
    query: S.flagReportQuery,
    response: R.flagReport,
  },
  {
    method: 'GET',
    path: '/health',
    summary: 'Database and media state; 503 when a part is down.',
    auth: 'none',
    response: R.healthDto,
    unavailable: true,
  },
  { method: 'GET', path: '/health/live', summary: 'Liveness: the process answers.', auth: 'none', response: R.livenessDto },
  {
    method: 'GET',
    path: '/health/ready',
    summary: 'Readiness: 503 while the database is down or the process drains.',
    auth: 'none',
    response: R.readinessDto,
    unavailable: true,
  },
  { method: 'GET', path: '/metrics', summary: 'Prometheus metrics.', auth: 'none', response: { contentType: 'text/plain' } },
  { method: 'GET', path: '/demo', summary: 'The browser client.', auth: 'none', response: { contentType: 'text/html' } },
  {
    method: 'GET',
    path: '/demo/app.js',
    summary: "The browser client's script.",
    auth: 'none',
    response: { contentType: 'application/javascript' },
  },
  {
    method: 'GET',
    path: '/docs/asyncapi.json',
    summary: 'This protocol’s socket events as an AsyncAPI 3.0 document.',
    auth: 'none',
    response: anyJson,
  },
  {
    method: 'GET',
    path: '/docs/openapi.json',
    summary: 'This protocol’s HTTP routes as an OpenAPI 3.1 document.',
    auth: 'none',
    response: anyJson,
  },
] as const satisfies readonly HttpRouteSpec[];

export const HTTP_ROUTE_SPECS: readonly HttpRouteSpec[] = HTTP_ROUTES;

type HttpRoute = (typeof HTTP_ROUTES)[number];
type RouteName<R> = R extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;
type JsonRoute = Extract<HttpRoute, { response: z.ZodTypeAny }>;
type JsonRouteNamed<N, R = JsonRoute> = R extends JsonRoute ? (RouteName<R> extends N ? R : never) : never;

/** A route as `METHOD /path`, its path as the catalog spells it: `PUT /contacts/:userId`. */
export type HttpRouteName = RouteName<HttpRoute>;
/** The routes whose success is JSON with a schema (not /metrics, nor the demo's files). */
export type HttpJsonRouteName = RouteName<JsonRoute>;
/** What a JSON route answers on success: what its response schema produces. */
export type HttpRouteResult<N extends HttpJsonRouteName> = z.output<JsonRouteNamed<N>['response']>;

/** The route named `METHOD /path` (see HttpRouteName). */
export function httpRouteSpec(name: HttpRouteName): HttpRouteSpec {
  const route = HTTP_ROUTE_SPECS.find((spec) => `${spec.method} ${spec.path}` === name);
  if (!route) throw new Error(`no HTTP route ${name} in the catalog`);
  return route;
}
