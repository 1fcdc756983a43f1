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
