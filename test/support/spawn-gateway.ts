import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { testEnv } from './test-gateway';

const ROOT = path.resolve(__dirname, '..', '..');

export interface SpawnedGateway {
  url: string;
  process: ChildProcess;
  /** Log lines (JSON) the process has written so far. */
  logs: string[];
  /** SIGKILL: a crash, nothing cleaned up. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The gateway as a separate OS process (from the TypeScript sources), for
 * tests that need two processes or a real crash. Resolves once it listens.
 */
export async function spawnGateway(databaseUrl: string, env: Record<string, string> = {}): Promise<SpawnedGateway> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/gateway/src/main.ts'],
    {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json', ...testEnv(databaseUrl, { LOG_LEVEL: 'info', ...env }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${logs.join('\n')}`)), 60_000);
    readline.createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"gateway listening"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).url);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${logs.join('\n')}`));
    });
  });
  return {
    url,
    process: child,
    logs,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
