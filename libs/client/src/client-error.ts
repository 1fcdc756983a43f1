import type { ErrorBody, ErrorCode } from '@app/contracts';

/** A failure answered by the server (or a transport failure, as INTERNAL/UNAUTHENTICATED). */
export class ClientError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  readonly status?: number;

  constructor(body: ErrorBody, status?: number) {
    super(`${body.code}: ${body.message}`);
    this.name = 'ClientError';
    this.code = body.code;
    this.details = body.details;
    this.status = status;
  }
}

/**
 * No ack arrived in time: the request may or may not have been applied by the
 * server (the connection may have dropped after it was sent). Only idempotent
 * requests, such as `dm:send` with the same clientMsgId, are safe to repeat.
 */
export class RequestTimeoutError extends Error {
  constructor(
    readonly event: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer to ${event} within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * The connection dropped while waiting for an ack: as with a timeout, the
 * request may or may not have been applied.
 */
export class ConnectionLostError extends Error {
  constructor(readonly event: string) {
    super(`connection lost while waiting for the answer to ${event}`);
    this.name = 'ConnectionLostError';
  }
}

export function isErrorCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof ClientError && err.code === code;
}
