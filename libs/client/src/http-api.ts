import type { ErrorBody } from '@app/contracts';
import { ClientError } from './client-error';

/** JSON over HTTP with the protocol's error envelope turned into ClientError. */
export async function httpJson<T>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<T> {
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
    const error = (parsed as { error?: ErrorBody } | undefined)?.error;
    throw new ClientError(error ?? { code: 'INTERNAL', message: `HTTP ${res.status}: ${text.slice(0, 200)}` }, res.status);
  }
  return parsed as T;
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
