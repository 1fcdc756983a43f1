/**
 * What the server sends, checked against the protocol catalog before the SDK
 * hands it on with a protocol type: acknowledgements and their data, pushes,
 * HTTP results and error bodies. These are guards, not parsers: what passes
 * is the very object that arrived, fields a newer server adds included (the
 * protocol lets the server add fields, so nothing is stripped). What fails is
 * refused with a ClientError naming the event or route and the first issue,
 * rather than handed on as a type it does not have.
 *
 * The catalog's response schemas carry no defaults nor transforms, so what a
 * schema accepts is already what it would produce.
 */
import { z } from 'zod';
import {
  CLIENT_EVENT_SPECS,
  HTTP_ROUTE_SPECS,
  httpRouteSpec,
  responseSchemas,
  SERVER_EVENT_SPECS,
  type Ack,
  type ClientEventName,
  type ClientEvents,
  type ErrorBody,
  type HttpJsonRouteName,
  type HttpRouteResult,
  type HttpRouteSpec,
  type ServerEventName,
  type ServerEvents,
} from '@app/contracts';
import { ClientError } from './client-error';

const accepting = new WeakMap<z.ZodTypeAny, z.ZodTypeAny>();

/**
 * The schema as a client checks with it: an object accepts fields it does not
 * name at its top level too (the catalog's `empty` is strict, for the
 * published documents; nested objects already let unknown fields through).
 */
function acceptingAddedFields(schema: z.ZodTypeAny): z.ZodTypeAny {
  if (!(schema instanceof z.ZodObject)) return schema;
  let lenient = accepting.get(schema);
  if (!lenient) accepting.set(schema, (lenient = schema.passthrough()));
  return lenient;
}

/** The first thing wrong with `value` as `schema` sees it (`path: message`), or undefined when it passes. */
function firstIssue(schema: z.ZodTypeAny, value: unknown): string | undefined {
  const result = acceptingAddedFields(schema).safeParse(value);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  if (!issue) return 'does not match';
  return `${issue.path.length > 0 ? issue.path.join('.') : '(the whole value)'}: ${issue.message}`;
}

/** A server's answer that does not match the protocol: INTERNAL, naming what was asked and what is wrong. */
function malformed(what: string, issue: string, details: Record<string, unknown>, status?: number): ClientError {
  return new ClientError(
    { code: 'INTERNAL', message: `${what}: the server's answer does not match the protocol (${issue})`, details: { ...details, issue } },
    status,
  );
}

// ---- socket acknowledgements ---------------------------------------------------

const ackEnvelope = responseSchemas.ackOf(z.unknown());

/** `{ ok: true, data }` or `{ ok: false, error: { code, message, details? } }`. */
export function isAck(value: unknown): value is Ack<unknown> {
  return firstIssue(ackEnvelope, value) === undefined;
}

/** The ClientError for an acknowledgement that is not one. */
export function malformedAck(event: string, value: unknown): ClientError {
  return malformed(`${event} acknowledgement`, firstIssue(ackEnvelope, value) ?? 'does not match', { event });
}

/** `data` is what a successful `event` acknowledges (the catalog's result schema). */
export function isResultOf<E extends ClientEventName>(event: E, data: unknown): data is ClientEvents[E]['result'] {
  return firstIssue(CLIENT_EVENT_SPECS[event].result, data) === undefined;
}

/** The ClientError for a successful acknowledgement whose data is not `event`'s result. */
export function malformedResult(event: ClientEventName, data: unknown): ClientError {
  return malformed(event, firstIssue(CLIENT_EVENT_SPECS[event].result, data) ?? 'does not match', { event });
}

// ---- pushes --------------------------------------------------------------------

/** Payloads already found to be a given event's, so several listeners of one push check it once. */
const checkedPayloads = new WeakMap<object, ServerEventName>();

function isServerEventName(event: string): event is ServerEventName {
  return Object.hasOwn(SERVER_EVENT_SPECS, event);
}

/** `payload` is what the server pushes as `event` (the catalog's payload schema). */
export function isPayloadOf<E extends ServerEventName>(event: E, payload: unknown): payload is ServerEvents[E] {
  const isObject = typeof payload === 'object' && payload !== null;
  if (isObject && checkedPayloads.get(payload) === event) return true;
  if (firstIssue(SERVER_EVENT_SPECS[event].payload, payload) !== undefined) return false;
  if (isObject) checkedPayloads.set(payload, event);
  return true;
}

/**
 * The ClientError for a push the catalog knows whose payload is not that
 * event's; undefined when it is, or when the event is not in the catalog.
 */
export function malformedPush(event: string, payload: unknown): ClientError | undefined {
  if (!isServerEventName(event) || isPayloadOf(event, payload)) return undefined;
  return malformed(`${event} push`, firstIssue(SERVER_EVENT_SPECS[event].payload, payload) ?? 'does not match', { event });
}

// ---- HTTP ----------------------------------------------------------------------

const routePatterns = new WeakMap<HttpRouteSpec, RegExp>();

/** `/contacts/:userId` as a pattern: any one segment for each parameter, then an optional query. */
function patternOf(route: HttpRouteSpec): RegExp {
  let pattern = routePatterns.get(route);
  if (!pattern) {
    const segments = route.path.split('/').map((part) => (part.startsWith(':') ? '[^/?#]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    routePatterns.set(route, (pattern = new RegExp(`^${segments.join('/')}(?:\\?.*)?$`)));
  }
  return pattern;
}

/** Whether `path` (parameters filled in, maybe with a query) is one of `route`'s. */
export function pathMatchesRoute(route: HttpRouteSpec, path: string): boolean {
  return patternOf(route).test(path);
}

/** The catalog's JSON routes by name. */
const JSON_ROUTES = new Map(
  HTTP_ROUTE_SPECS.filter((spec) => spec.response instanceof z.ZodType).map((spec) => [`${spec.method} ${spec.path}`, spec]),
);

function isJsonRouteName(name: string): name is HttpJsonRouteName {
  return JSON_ROUTES.has(name);
}

/** The catalog's JSON route `path` (parameters filled in, maybe with a query) belongs to, if any. */
export function jsonRouteOf(method: string, path: string): HttpJsonRouteName | undefined {
  for (const [name, spec] of JSON_ROUTES) {
    if (spec.method === method.toUpperCase() && pathMatchesRoute(spec, path) && isJsonRouteName(name)) return name;
  }
  return undefined;
}

/** The response schema of a JSON route; an unknown name is a programming error. */
function jsonRouteSchema(route: HttpJsonRouteName): z.ZodTypeAny {
  const { response } = httpRouteSpec(route);
  if (!(response instanceof z.ZodType)) throw new Error(`${route} does not answer JSON`);
  return response;
}

/** `data` is what `route` answers on success (the catalog's response schema). */
export function isHttpResultOf<N extends HttpJsonRouteName>(route: N, data: unknown): data is HttpRouteResult<N> {
  return firstIssue(jsonRouteSchema(route), data) === undefined;
}

/** The ClientError for a success whose body is not `route`'s result. */
export function malformedHttpResult(route: HttpJsonRouteName, data: unknown, status: number): ClientError {
  return malformed(route, firstIssue(jsonRouteSchema(route), data) ?? 'does not match', { route }, status);
}

const httpErrorEnvelope = responseSchemas.httpError;

/** The protocol's error of an HTTP failure's body (`{ error: { code, message, details? } }`), if it is one. */
export function httpErrorOf(body: unknown): ErrorBody | undefined {
  const parsed = httpErrorEnvelope.safeParse(body);
  return parsed.success ? parsed.data.error : undefined;
}
