import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';

/** What every log line written while handling one request or socket event carries. */
export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The header that carries a request id in and out (HTTP) and between processes. */
export const REQUEST_ID_HEADER = 'x-request-id';

// Ids from outside end up in log lines: a bounded, printable alphabet only.
const ACCEPTABLE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function newRequestId(): string {
  return crypto.randomUUID();
}

/** A request id from a header or a forwarded message, or a new one when it is missing or unfit for logs. */
export function acceptRequestId(given: unknown): string {
  return typeof given === 'string' && ACCEPTABLE_REQUEST_ID.test(given) ? given : newRequestId();
}

/**
 * Whether request ids are worth tracking for a logger: only log lines read
 * them, and a silent logger writes none. Tracking one switches on Node's
 * promise hooks for the whole process (AsyncLocalStorage), a cost on every
 * promise, so a silent process never starts it.
 */
export function tracksRequestIds(logger: { isLevelEnabled(level: string): boolean }): boolean {
  return logger.isLevelEnabled('fatal');
}

/** Runs `fn` (and everything it starts) as part of the request `requestId`. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

/**
 * The id of the request being handled, for work forwarded to another process
 * (carry it in the message and resume with `runWithRequestId`); undefined
 * outside a request (timers, start-up).
 */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
