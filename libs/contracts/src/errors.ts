/** Error codes of the client protocol. Every failure a client sees carries one. */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BLOCKED',
  'NOT_FRIENDS',
  'RATE_LIMITED',
  'VIDEO_CALL_DISABLED',
  'BUSY',
  'INVALID_STATE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** HTTP status that goes with each code. */
export const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BLOCKED: 403,
  NOT_FRIENDS: 403,
  RATE_LIMITED: 429,
  VIDEO_CALL_DISABLED: 403,
  BUSY: 409,
  INVALID_STATE: 409,
  INTERNAL: 500,
};

/**
 * A failure the domain knows about, carrying its protocol code. Services
 * throw it; the gateway turns it into the error envelope in one place.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static notFound(what: string): DomainError {
    return new DomainError('NOT_FOUND', `${what} not found`);
  }
}

export function isDomainError(value: unknown): value is DomainError {
  return value instanceof DomainError;
}
