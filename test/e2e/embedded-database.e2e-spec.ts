import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SocialClient } from '@app/client';
import { spawnGateway, uniqueHandle } from '@app/testing';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function postmasterPid(dir: string): number | null {
  const file = path.join(dir, 'postmaster.pid');
  return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').split('\n')[0]) : null;
}

describe('with no DATABASE_URL the gateway runs on an embedded PostgreSQL', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-pg-'));
  // As root the server runs as the postgres user, which must be able to reach its folder.
  fs.chmodSync(dir, 0o755);
  const dataDir = path.join(dir, 'data');

  afterAll(() => {
    const pid = postmasterPid(dataDir);
    if (pid) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts it, serves dev-login, says so in its log, keeps data across restarts and stops it on SIGTERM', async () => {
    const env = { DATABASE_URL: '', EMBEDDED_PG_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
    const first = await spawnGateway('', env);
    expect(first.logs.some((l) => l.includes('using the embedded PostgreSQL'))).toBe(true);
    expect(await (await fetch(`${first.url}/health`)).json()).toMatchObject({ status: 'ok', db: 'up' });
    const handle = uniqueHandle('emb');
    const alice = await SocialClient.login(first.url, handle);
    expect(await first.stop()).toBe(0);
    expect(postmasterPid(dataDir)).toBeNull();

    // A crash leaves the database server running: the next start reuses it.
    const second = await spawnGateway('', env);
    const again = await SocialClient.login(second.url, handle);
    expect(again.user.id).toBe(alice.user.id);
    await second.kill();
    expect(postmasterPid(dataDir)).not.toBeNull();
    const third = await spawnGateway('', env);
    expect(third.logs.some((l) => l.includes('reusing it'))).toBe(true);
    expect((await SocialClient.login(third.url, handle)).user.id).toBe(alice.user.id);
    await third.stop();
  });
});
