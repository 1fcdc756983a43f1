import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * The gateway as an OS process of its own, run from the TypeScript sources
 * (no build needed): `nodeArgs` go before the loader, `env` over this
 * process's environment.
 */
export function spawnGatewayFromSource(nodeArgs: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  return spawn(
    process.execPath,
    [...nodeArgs, '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/gateway/src/main.ts'],
    { cwd: ROOT, env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json', ...env }, stdio },
  );
}
