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
