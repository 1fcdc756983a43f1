import { io, Socket } from 'socket.io-client';
import { inBatches, loginUsers } from '../support/bench-users';
import { startBenchGateway } from '../support/gateway-process';
import { sleep } from '../support/message-load';
import { mib, rssBytes } from '../support/process-usage';

export interface IdleSocketsResult {
  sockets: number;
  connectSeconds: number;
  gatewayRssBeforeMiB: number;
  gatewayRssAfterMiB: number;
  rssPerSocketKiB: number;
  heapUsedPerSocketKiB: number;
  healthAfter: number;
}

async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Memory the gateway spends per connected, idle, authenticated socket. */
export async function runIdleSocketsBench(n: number, log: (s: string) => void): Promise<IdleSocketsResult> {
  const gw = await startBenchGateway();
  const sockets: Socket[] = [];
  try {
    log(`idle sockets: signing in ${n} users`);
    const users = await loginUsers(gw.url, n, 'idle', 32);
    await sleep(3000);
    const rssBefore = rssBytes(gw.pid);
    const heapBefore = await heapUsed(gw.url);
    const t0 = performance.now();
    await inBatches(users, 64, async (u) => {
      const s = await new Promise<Socket>((resolve, reject) => {
        const s = io(gw.url, { auth: { token: u.token }, transports: ['websocket'], reconnection: false, forceNew: true });
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });
      sockets.push(s);
    });
    const connectSeconds = (performance.now() - t0) / 1000;
    log(`  ${n} sockets connected in ${connectSeconds.toFixed(1)} s`);
    await sleep(5000);
    const rssAfter = rssBytes(gw.pid);
    const heapAfter = await heapUsed(gw.url);
    const health = (await fetch(`${gw.url}/health`)).status;
    return {
      sockets: n,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      gatewayRssBeforeMiB: mib(rssBefore),
      gatewayRssAfterMiB: mib(rssAfter),
      rssPerSocketKiB: Math.round(((rssAfter - rssBefore) / n / 1024) * 10) / 10,
      heapUsedPerSocketKiB: Math.round(((heapAfter - heapBefore) / n / 1024) * 10) / 10,
      healthAfter: health,
    };
  } finally {
    for (const s of sockets) s.disconnect();
    await gw.close();
  }
}
