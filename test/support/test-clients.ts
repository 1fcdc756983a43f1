import { ClientError, SocialClient } from '@app/client';
import { TEST_ADMIN_TOKEN, uniqueHandle } from './test-gateway';

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

/**
 * Resolves once a `dm:typing` from `from` reached every one of `sockets`
 * (all signed in as one user, not `from`). A socket receives pushes in the
 * order the server sent them, so every push sent to those sockets before
 * this call has arrived by then: a test can assert that something else did
 * NOT arrive without waiting a fixed time.
 */
export async function pushFence(from: SocialClient, sockets: SocialClient[]): Promise<void> {
  const arrived = sockets.map((s) => s.waitFor('dm:typing', (p) => p.from === from.id));
  await from.request('dm:typing', { to: sockets[0].id });
  await Promise.all(arrived);
}

/** Changes the video_call flag through the admin API of a test gateway (its ADMIN_TOKEN); throws unless it answers 200. */
export async function putVideoFlag(url: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${url}/admin/flags/video_call`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`PUT video_call: ${res.status} ${await res.text()}`);
}
