import crypto from 'node:crypto';
import type { AppConfig } from './app-config';

/**
 * Processes sharing one database are one service, whatever Redis they share
 * with others: the database names the service (its URL, or the embedded
 * cluster's port when there is none).
 */
export function serviceKeyOf(config: Pick<AppConfig, 'databaseUrl' | 'embeddedPostgres'>): string {
  return config.databaseUrl ?? `embedded:${config.embeddedPostgres.port}`;
}

/** Prefix of one area's Redis keys and channels for a service: `<area>:<12 hex digits of the key's SHA-256>` (no secret of the URL shows). */
export function redisNamespace(area: string, serviceKey: string): string {
  return `${area}:${crypto.createHash('sha256').update(serviceKey).digest('hex').slice(0, 12)}`;
}
