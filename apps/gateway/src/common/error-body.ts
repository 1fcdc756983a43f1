import { HttpException } from '@nestjs/common';
import { DomainError, ErrorBody, ErrorCode } from '@app/contracts';

const CODE_BY_HTTP_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'NOT_FOUND',
  409: 'INVALID_STATE',
  413: 'VALIDATION_FAILED',
  415: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
};

/**
 * The one translation from anything thrown to the protocol's error object.
 * `unexpected` is true when the error is a bug or an outage worth logging.
 */
export function toErrorBody(error: unknown): { body: ErrorBody; unexpected: boolean } {
  if (error instanceof DomainError) return { body: error.toBody(), unexpected: false };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = CODE_BY_HTTP_STATUS[status];
    if (code) return { body: { code, message: httpMessage(error) }, unexpected: false };
  }
  // body-parser's errors (bad JSON, too large) carry a status of their own.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && CODE_BY_HTTP_STATUS[status]) {
    return { body: { code: CODE_BY_HTTP_STATUS[status], message: (error as Error).message }, unexpected: false };
  }
  return { body: { code: 'INTERNAL', message: 'internal error' }, unexpected: true };
}

function httpMessage(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? error.message);
}
