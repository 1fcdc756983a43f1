import { httpRouteSpec, type HttpJsonRouteName, type HttpRouteResult } from '@app/contracts';
import { ClientError } from './client-error';
import { httpErrorOf, isHttpResultOf, malformedHttpResult, pathMatchesRoute } from './protocol-checks';

export interface HttpOptions {
  token?: string;
  body?: unknown;
}

/**
 * JSON over HTTP for one of the catalog's routes (`'GET /calls'`) at `path`
 * (its parameters filled in, with any query): the answer checked against the
 * route's response schema, the protocol's error envelope turned into
 * ClientError.
 */
export async function httpJson<N extends HttpJsonRouteName>(
  baseUrl: string,
  route: N,
  path: string,
  options: HttpOptions = {},
): Promise<HttpRouteResult<N>> {
  const spec = httpRouteSpec(route);
  if (!pathMatchesRoute(spec, path)) throw new Error(`${path} is not a path of ${route}`);
  const { status, body } = await fetchJson(baseUrl, spec.method, path, options);
  if (isHttpResultOf(route, body)) return body;
  throw malformedHttpResult(route, body, status);
}

/**
 * Any method and path, the answer unchecked (`unknown`): what the SDK's typed
 * calls are built on, and a way to reach a route the catalog does not have.
 * A failure is a ClientError, with the protocol's error when the body is one.
 */
export async function fetchJson(
  baseUrl: string,
  method: string,
  path: string,
  options: HttpOptions = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = httpErrorOf(parsed);
    throw new ClientError(error ?? { code: 'INTERNAL', message: `HTTP ${res.status}: ${text.slice(0, 200)}` }, res.status);
  }
  return { status: res.status, body: parsed };
}

/** `?limit=&cursor=` of a paged list. */
export function pageQueryString(page: { limit?: number; cursor?: string } = {}): string {
  const query = new URLSearchParams();
  if (page.limit !== undefined) query.set('limit', String(page.limit));
  if (page.cursor !== undefined) query.set('cursor', page.cursor);
  const qs = query.toString();
  return qs ? `?${qs}` : '';
}

/** One page of a list and where the next one starts (null: this was the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
