import { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';
import { currentRequestId } from './request-context';

/** The name every process of this project logs and traces as (OTEL_SERVICE_NAME overrides it). */
export const SERVICE_NAME = 'social-messaging-backend';

export interface RootLoggerOptions {
  /** What this process does: all, gateway or media. Default: NODE_ROLE, else all. */
  role?: string;
  /** Default: OTEL_SERVICE_NAME, else SERVICE_NAME. */
  service?: string;
}

/** The service name and role of this process, from the options or the environment. */
export function processIdentity(options: RootLoggerOptions = {}, env: NodeJS.ProcessEnv = process.env): { service: string; role: string } {
  return {
    service: options.service ?? (env.OTEL_SERVICE_NAME || SERVICE_NAME),
    role: options.role ?? (env.NODE_ROLE || 'all'),
  };
}

/**
 * Structured JSON logs (one object per line) through pino. Every line names
 * the service and the process's role (a media node's lines say
 * `role: "media"`); a line written while a request or socket event is
 * handled carries its `requestId`.
 */
export function createRootLogger(level: string, options: RootLoggerOptions = {}): Logger {
  const { service, role } = processIdentity(options);
  return pino({
    level,
    base: { service, role, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => {
      const requestId = currentRequestId();
      return requestId === undefined ? {} : { requestId };
    },
  });
}

/** Lets Nest's own messages go through the same JSON logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string) {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
