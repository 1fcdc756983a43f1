import crypto from 'node:crypto';
import { loadConfig } from '@app/config';
import { startGateway } from '@app/gateway';

export interface EmbeddedGateway {
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

/**
 * A gateway in this process when no --url is given: the environment's
 * configuration (DATABASE_URL or, without it, the embedded PostgreSQL), a
 * port chosen by the OS, and a one-off admin token for the flag experiment.
 * main loads this module lazily, so a run against a remote gateway never loads the server.
 */
export async function startEmbeddedGateway(env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedGateway> {
  const adminToken = crypto.randomBytes(18).toString('base64url');
  const config = loadConfig({
    ...env,
    PORT: '0',
    // Beside another gateway on the same machine: WebRTC ports picked from the range.
    MEDIA_WEBRTC_PORT: env.MEDIA_WEBRTC_PORT ?? '0',
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: env.LOG_LEVEL ?? 'error',
  });
  const gateway = await startGateway({ config });
  return { url: gateway.url, adminToken, close: () => gateway.close() };
}
