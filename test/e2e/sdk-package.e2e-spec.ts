import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestGateway, startTestGateway } from '@app/testing';

/**
 * The SDK as someone else gets it: built (packages/client/build.mjs), packed
 * with `npm pack`, installed from the tarball into an empty folder, and used
 * by plain `node` from an ES module and a CommonJS script (no monorepo
 * aliases, no ts-node) against a real gateway; a TypeScript consumer of each
 * module kind type-checks against the shipped declarations.
 */
const ROOT = path.resolve(__dirname, '../..');
const PACKAGE_DIR = path.join(ROOT, 'packages/client');
const SCRIPTS_DIR = path.join(PACKAGE_DIR, 'test');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking this process (the gateway under test lives in it). */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} took over ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function expectSuccess(result: Run, what: string): void {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
}

/** The JSON line a call script prints last. */
function report(result: Run): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

describe('the SDK package, packed and installed', () => {
  let gw: TestGateway;
  let work: string;
  let app: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-package-'));
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'sdk-consumer', private: true, version: '0.0.0' }));

    expectSuccess(await run(process.execPath, [path.join(PACKAGE_DIR, 'build.mjs')], ROOT, 120_000), 'build');
    const pack = await run('npm', ['pack', '--json', '--pack-destination', work], PACKAGE_DIR, 60_000);
    expectSuccess(pack, 'npm pack');
    const [{ filename }] = JSON.parse(pack.stdout) as { filename: string }[];
    const tarball = path.join(work, filename);
    // Dependencies come from the npm cache when it has them (it does after the project's own install).
    const install = await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', tarball],
      app,
      120_000,
    );
    expectSuccess(install, 'npm install');
    for (const script of ['call.mjs', 'call.cjs', 'consumer.mts', 'consumer.cts']) {
      fs.copyFileSync(path.join(SCRIPTS_DIR, script), path.join(app, script));
    }
    gw = await startTestGateway();
  }, 300_000);

  afterAll(async () => {
    await gw?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('installs with its exports map: ESM and CommonJS entries, the node and browser ones, nothing from the monorepo', () => {
    const installed = path.join(app, 'node_modules/@social-messaging/client');
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, { import?: { types: string; default: string }; require?: { types: string; default: string } }>;
    };
    expect(Object.keys(manifest.exports)).toEqual(expect.arrayContaining(['.', './node', './browser']));
    for (const entry of ['.', './node', './browser']) {
      for (const condition of ['import', 'require'] as const) {
        const target = manifest.exports[entry][condition]!;
        expect(fs.existsSync(path.join(installed, target.default))).toBe(true);
        expect(fs.existsSync(path.join(installed, target.types))).toBe(true);
      }
    }
    // Nothing the package ships points into the monorepo.
    const shipped = fs.readdirSync(path.join(installed, 'dist'), { recursive: true, encoding: 'utf8' });
    for (const file of shipped.filter((f) => /\.(mjs|cjs|d\.ts)$/.test(f))) {
      expect(fs.readFileSync(path.join(installed, 'dist', file), 'utf8')).not.toMatch(/['"]@app\//);
    }
  });

  it('places a call from a plain ES module: signed in, contacts, a message, an answered call with tones both ways, hung up', async () => {
    const result = await run(process.execPath, ['call.mjs', gw.url], app, 45_000);
    expectSuccess(result, 'call.mjs');
    expect(report(result)).toMatchObject({
      format: 'esm',
      dm: 'hello from ESM',
      endReason: 'hangup',
      tones: { bobHeard440: true, aliceHeard660: true },
      states: ['connecting', 'connected', 'disconnected'],
      state: 'disconnected',
    });
  });

  it('places a call from a CommonJS script: signed in, contacts, a message, an answered call, hung up', async () => {
    const result = await run(process.execPath, ['call.cjs', gw.url], app, 45_000);
    expectSuccess(result, 'call.cjs');
    expect(report(result)).toMatchObject({
      format: 'cjs',
      dm: 'hello from CommonJS',
      ringingFrom: true,
      endReason: 'hangup',
      refused: expect.stringMatching(/^[A-Z_]+$/),
      state: 'disconnected',
    });
  });

  it('type-checks a TypeScript consumer of each module kind against the shipped declarations', async () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const args = [
      tsc,
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2022,dom',
      '--typeRoots',
      path.join(ROOT, 'node_modules/@types'),
      '--types',
      'node',
      'consumer.mts',
      'consumer.cts',
    ];
    expectSuccess(await run(process.execPath, args, app, 60_000), 'tsc');
  }, 90_000);
});
