import { ClientError, SocialClient } from '@app/client';
import { uniqueHandle } from './test-gateway';

/** A new user, signed in and connected. */
export async function connectedUser(gw: { url: string }, prefix = 'u'): Promise<SocialClient> {
  return (await SocialClient.login(gw.url, uniqueHandle(prefix))).connect();
}

/** The protocol error code a refused request came back with; fails if it was not refused. */
export async function refusalCode(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw err;
  return err.code;
}
