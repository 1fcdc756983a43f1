import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { spawnGatewayFromSource } from '@app/harness';
import { testEnv } from './test-gateway';

export interface SpawnedGateway {
  url: string;
  process: ChildProcess;
  /** Log lines (JSON) the process has written so far. */
  logs: string[];
  /** SIGKILL: a crash, nothing cleaned up (at once, sending nothing, when it has exited already). */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop; resolves with the exit code (at once, sending nothing, when it has exited already). */
  stop(): Promise<number | null>;
}

/**
 * The gateway as a separate OS process (from the TypeScript sources), for
 * tests that need two processes or a real crash. Resolves once it listens.
 */
export async function spawnGateway(
  databaseUrl: string,
  env: Record<string, string> = {},
  /** nodeArgs: flags after GATEWAY_NODE_ARGS (a later flag wins). */
  options: { nodeArgs?: string[] } = {},
): Promise<SpawnedGateway> {
  const child = spawnGatewayFromSource(options.nodeArgs ?? [], testEnv(databaseUrl, { LOG_LEVEL: 'info', ...env }), [
    'ignore',
    'pipe',
    'pipe',
  ]);
  const logs: string[] = [];
  // 'close', not 'exit': by then its pipes are read to the end, so every line it wrote is in `logs`.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
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
  // A signal is never sent to a pid this process no longer owns.
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    process: child,
    logs,
    kill: async () => {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (running()) child.kill('SIGTERM');
      return exited;
    },
  };
}
