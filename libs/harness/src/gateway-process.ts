import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
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

/** Where `node scripts/setup.js --app gateway` (and so `npm start`) puts the compiled gateway. */
export const BUILT_GATEWAY_ENTRY = path.join(ROOT, 'dist', 'apps', 'gateway', 'apps', 'gateway', 'src', 'main.js');

/**
 * The gateway as an OS process of its own, run from its compiled build as
 * `npm start` runs it. What is measured should be what runs: under ts-node
 * the process also carries the loader's hooks and Node's `repl` module,
 * which loads `domain` and with it a wrapper around every event emit.
 */
export function spawnGatewayFromBuild(nodeArgs: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  if (!fs.existsSync(BUILT_GATEWAY_ENTRY)) {
    throw new Error(`no compiled gateway at ${path.relative(ROOT, BUILT_GATEWAY_ENTRY)}: run node scripts/setup.js --app gateway`);
  }
  return spawn(process.execPath, [...nodeArgs, BUILT_GATEWAY_ENTRY], { cwd: ROOT, env: { ...process.env, ...env }, stdio });
}
