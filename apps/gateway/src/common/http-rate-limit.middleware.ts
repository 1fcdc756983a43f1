import net from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { AuthService, bearerToken } from '@app/auth';
import { AppConfig, redisNamespace, serviceKeyOf } from '@app/config';
import { DomainError, HTTP_STATUS_BY_CODE } from '@app/contracts';
import type { Logger } from '@app/observability';
import { HTTP_PER_ADDRESS, HTTP_PER_USER, RateLimiterService } from '@app/rate-limits';
import { ERROR_CODE_LOCAL } from './http-access.middleware';

/** The address a request comes from as this server sees it: no proxy header is trusted (anyone can write one). */
export function clientAddressOf(req: Request): string {
  const address = req.socket.remoteAddress ?? '';
  // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d: one client, one key.
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Whether `address` lies in one of the CIDR blocks (a bare address is a block of one). */
export function addressMatcher(cidrs: string[]): (address: string) => boolean {
  const blocks = new net.BlockList();
  for (const cidr of cidrs) {
    const [base, bits] = cidr.split('/');
    const type = net.isIPv6(base) ? 'ipv6' : 'ipv4';
    blocks.addSubnet(base, bits === undefined ? (type === 'ipv6' ? 128 : 32) : Number(bits), type);
  }
  return (address) => {
    const type = net.isIPv6(address) ? 'ipv6' : net.isIPv4(address) ? 'ipv4' : undefined;
    return type !== undefined && blocks.check(address, type);
  };
}

/**
 * Every HTTP request is counted before any route runs: a request bearing a
 * validly signed user token against its user's limit (wherever it comes
 * from), any other against its client address's (except the exempt blocks,
 * loopback by default). Excess is answered 429 RATE_LIMITED with
 * details.retryAfterMs and Retry-After. The counters are the rate-limit
 * service's, so with REDIS_URL they hold across processes. A failure of the
 * limiter itself lets the request through: limits protect the service, they
 * must not take it down.
 */
export function httpRateLimit(deps: {
  limits: RateLimiterService;
  auth: AuthService;
  config: AppConfig;
  logger: Logger;
}): (req: Request, res: Response, next: NextFunction) => void {
  const exempt = addressMatcher(deps.config.httpRate.exemptCidrs);
  // Addresses are no ids: two services sharing one Redis must not share their counters.
  const addressPrefix = redisNamespace('http', serviceKeyOf(deps.config));
  return (req, res, next) => {
    if (req.method === 'OPTIONS') return next();
    const token = bearerToken(req.headers.authorization);
    const userId = token ? deps.auth.signedUserOf(token) : null;
    let counted: Promise<void>;
    if (userId) counted = deps.limits.consume(HTTP_PER_USER, userId);
    else {
      const address = clientAddressOf(req);
      if (exempt(address)) return next();
      counted = deps.limits.consume(HTTP_PER_ADDRESS, `${addressPrefix}:${address}`);
    }
    counted.then(
      () => next(),
      (err: unknown) => {
        if (!(err instanceof DomainError) || err.code !== 'RATE_LIMITED') {
          deps.logger.warn({ err }, 'HTTP rate limiter failed; request let through');
          return next();
        }
        const body = err.toBody();
        const retryAfterMs = Number(body.details?.retryAfterMs ?? 1000);
        res.locals[ERROR_CODE_LOCAL] = body.code;
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
        res.status(HTTP_STATUS_BY_CODE.RATE_LIMITED).json({ error: body });
      },
    );
  };
}
