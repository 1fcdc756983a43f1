import type { ErrorBody } from './errors';

/** The answer to every client→server socket event. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

export function okAck<T>(data: T): Ack<T> {
  return { ok: true, data };
}

export function errorAck(error: ErrorBody): Ack<never> {
  return { ok: false, error };
}
