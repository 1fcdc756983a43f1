import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SocialClient } from '@app/client';
import { GATEWAY_NODE_ARGS, staleGatewayBuild } from '@app/harness';
import { createTestDatabase, spawnGateway, TestDatabase, uniqueHandle } from '@app/testing';

describe('gateway process', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('starts, serves, and stops cleanly on SIGTERM', async () => {
    const gw = await spawnGateway(db.url);
    const res = await fetch(`${gw.url}/health`);
    expect(res.status).toBe(200);
    // Started with the heap limit every gateway gets (GATEWAY_NODE_ARGS), so it does not warn of none.
    expect(gw.logs.some((l) => l.includes('"msg":"heap limit"'))).toBe(true);
    expect(gw.logs.some((l) => l.includes('no heap limit set'))).toBe(false);
    const client = await (await SocialClient.login(gw.url, uniqueHandle())).connect({ reconnection: false });
    const disconnected = new Promise((resolve) => client.socket!.once('disconnect', resolve));
    const code = await gw.stop();
    await disconnected;
    expect(code).toBe(0);
    expect(gw.logs.some((l) => l.includes('gateway stopped'))).toBe(true);
  });

  it('refuses to start on a bad variable, naming it and what it accepts', async () => {
    await expect(spawnGateway(db.url, { CALL_MAX_DURATION_MS: 'soon' })).rejects.toThrow(
      /CALL_MAX_DURATION_MS="soon": expected an integer/,
    );
  });
});

describe("the gateway's Node flags", () => {
  const read = (file: string) => fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8');
  // The flags a file sets in NODE_OPTIONS (comments left out).
  const nodeOptions = (text: string) =>
    text
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .flatMap((line) => /NODE_OPTIONS[=:]\s*(--\S+(?:\s+--\S+)*)/.exec(line)?.[1] ?? []);

  it('are the same for npm start, the image, compose, tests and benchmarks', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const start: string = require('../../package.json').scripts.start;
    const started = [
      { where: 'npm start', flags: start.slice(start.indexOf('&& node ') + '&& node '.length).split(' ') },
      ...nodeOptions(read('Dockerfile')).map((o) => ({ where: 'Dockerfile', flags: o.split(' ') })),
      ...nodeOptions(read('docker-compose.common.yml')).map((o) => ({ where: 'compose', flags: o.split(' ') })),
    ];
    expect(started.map((s) => s.where)).toEqual(['npm start', 'Dockerfile', 'compose']);
    for (const { where, flags } of started)
      expect({ where, flags: flags.filter((f) => f.startsWith('--')) }).toEqual({ where, flags: GATEWAY_NODE_ARGS });
  });
});

describe('set-up (scripts/setup.js)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { appBuildKey } = require('../../scripts/setup.js') as { appBuildKey(base: string): string };
  let dir: string;
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-key-'));
    write('tsconfig.json', '{}');
    write('apps/gateway/src/main.ts', 'export const a = 1;');
    write('libs/things/src/thing.ts', 'export const b = 2;');
    write('libs/things/src/thing.spec.ts', 'test');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('compiles an app again only when a source it compiles changed (content, not time)', () => {
    const before = appBuildKey(dir);
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(dir, 'libs/things/src/thing.ts'), later, later);
    write('libs/things/src/thing.spec.ts', 'a spec is not compiled into the app');
    fs.mkdirSync(path.join(dir, 'libs/things/node_modules'), { recursive: true });
    write('libs/things/node_modules/x.ts', 'ignored');
    expect(appBuildKey(dir)).toBe(before);

    write('libs/things/src/thing.ts', 'export const b = 3;');
    const changed = appBuildKey(dir);
    expect(changed).not.toBe(before);
    write('packages/client/src/index.ts', 'export {};');
    expect(appBuildKey(dir)).not.toBe(changed);
    write('tsconfig.json', '{"compilerOptions":{}}');
    expect(appBuildKey(dir)).not.toBe(changed);
  });

  it('refuses to run a compiled gateway that is missing or older than its sources (what the benchmark runs)', () => {
    expect(staleGatewayBuild(dir)).toMatch(
      /^no compiled gateway at dist\/apps\/gateway\/apps\/gateway\/src\/main\.js: run node scripts\/setup\.js/,
    );
    write('dist/apps/gateway/apps/gateway/src/main.js', '');
    expect(staleGatewayBuild(dir)).toMatch(/older than its sources/); // built, but no key kept beside it
    write('dist/apps/gateway/.build-key', appBuildKey(dir));
    expect(staleGatewayBuild(dir)).toBeUndefined();
    write('libs/things/src/thing.ts', 'export const b = 3;');
    expect(staleGatewayBuild(dir)).toMatch(/^the compiled gateway is older than its sources: run node scripts\/setup\.js --app gateway/);
  });

  it('builds no media worker for a simulation against a running server (--url)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { setupArguments } = require('../../scripts/run-sim.js') as { setupArguments(args: string[]): string[] };
    expect(setupArguments(['--url', 'http://10.0.0.5:3000', '--users', '4'])).toEqual(['--app', 'sim', '--no-media-worker']);
    expect(setupArguments(['--url=http://10.0.0.5:3000'])).toContain('--no-media-worker');
    expect(setupArguments(['--users', '4'])).toEqual(['--app', 'sim']);
  });
});
