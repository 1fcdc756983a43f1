import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Node flags every gateway is started with (package.json "start", the
 * Dockerfile's and compose's NODE_OPTIONS): a heap limit sized for one
 * gateway. Without it V8's limit follows the machine's memory and its
 * collector lets the old generation grow to up to 4× the live heap before
 * collecting; with 1 GB the growth is at most about 1.6×, so RSS tracks the
 * live heap. The gateway processes tests and benchmarks start get these
 * too (spawnGatewayFromSource, spawnGatewayFromBuild), so they collect
 * garbage as a deployed gateway does.
 */
export const GATEWAY_NODE_ARGS = ['--max-old-space-size=1024'];

/**
 * The gateway as an OS process of its own, run from the TypeScript sources
 * (no build needed), with GATEWAY_NODE_ARGS: `nodeArgs` go after them (a
 * later flag wins) and before the loader, `env` over this process's
 * environment.
 */
export function spawnGatewayFromSource(nodeArgs: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  return spawn(
    process.execPath,
    [
      ...GATEWAY_NODE_ARGS,
      ...nodeArgs,
      '-r',
      'ts-node/register/transpile-only',
      '-r',
      'tsconfig-paths/register',
      'apps/gateway/src/main.ts',
    ],
    { cwd: ROOT, env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json', ...env }, stdio },
  );
}

/** The set-up script's account of an app's build (it compiles apps, and `npm start` runs what it compiled); loaded when first asked. */
function setupScript(): {
  appBuild(app: string, base?: string): { entry: string; stamp: string };
  appBuildIsCurrent(app: string, base?: string): boolean;
} {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(ROOT, 'scripts', 'setup.js'));
}

/** Where `node scripts/setup.js --app gateway` (and so `npm start`) puts the compiled gateway, under a project root. */
export function builtGatewayEntry(root = ROOT): string {
  return setupScript().appBuild('gateway', root).entry;
}

/**
 * Why the compiled gateway under `root` is not the sources' (undefined when
 * it is): missing, or built from sources that changed since. The set-up
 * script keeps a key over every source it compiled next to the build; the
 * same key over the sources now must match it.
 */
export function staleGatewayBuild(root = ROOT): string | undefined {
  const rebuild = 'run node scripts/setup.js --app gateway (npm run bench and npm start do it first)';
  const entry = builtGatewayEntry(root);
  if (!fs.existsSync(entry)) return `no compiled gateway at ${path.relative(root, entry)}: ${rebuild}`;
  return setupScript().appBuildIsCurrent('gateway', root) ? undefined : `the compiled gateway is older than its sources: ${rebuild}`;
}

/** Checked once per process: the sources do not change under a running benchmark. */
let buildChecked = false;

/**
 * The gateway as an OS process of its own, run from its compiled build as
 * `npm start` runs it, with GATEWAY_NODE_ARGS (`nodeArgs` go after them).
 * What is measured should be what runs: under ts-node
 * the process also carries the loader's hooks and Node's `repl` module,
 * which loads `domain` and with it a wrapper around every event emit. A
 * build older than the sources is refused, so a benchmark or diagnostic
 * started by hand never measures code that is no longer there.
 */
export function spawnGatewayFromBuild(nodeArgs: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  if (!buildChecked) {
    const stale = staleGatewayBuild();
    if (stale) throw new Error(stale);
    buildChecked = true;
  }
  return spawn(process.execPath, [...GATEWAY_NODE_ARGS, ...nodeArgs, builtGatewayEntry()], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio,
  });
}
