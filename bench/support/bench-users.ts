import crypto from 'node:crypto';
import { SocialClient } from '@app/client';

/** Runs tasks with at most `limit` in flight; results in input order. */
export async function inBatches<T, R>(items: T[], limit: number, task: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function benchHandle(prefix: string, i: number): string {
  return `${prefix}_${crypto.randomBytes(3).toString('hex')}_${i}`.slice(0, 32);
}

/** n users signed in over HTTP (dev-login), not yet connected. */
export function loginUsers(url: string, n: number, prefix: string, concurrency = 16): Promise<SocialClient[]> {
  return inBatches(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    (i) => SocialClient.login(url, benchHandle(prefix, i)),
  );
}

/** Each adds the other as a contact, so calls between them are allowed. */
export async function befriend(a: SocialClient, b: SocialClient): Promise<void> {
  await a.http('PUT', `/contacts/${b.id}`, {});
  await b.http('PUT', `/contacts/${a.id}`, {});
}

export function disconnectAll(clients: SocialClient[]): void {
  for (const c of clients) c.disconnect();
}
