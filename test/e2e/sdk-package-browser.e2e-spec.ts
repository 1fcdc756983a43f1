import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { WorkerPool } from '@app/media';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';
import { CHROMIUM, haveChromium, CHROMIUM_ARGS, FAKE_MEDIA_ARGS } from '../support/chromium';

const ROOT = path.resolve(__dirname, '../..');
const PACKAGE_DIR = path.join(ROOT, 'packages/client');
if (!haveChromium) console.warn(`SDK browser test skipped: no Chromium at ${CHROMIUM}`);
const describeWithBrowser = haveChromium ? describe : describe.skip;

const BROWSER_ARGS = [...CHROMIUM_ARGS, ...FAKE_MEDIA_ARGS];

interface PageApi {
  login(url: string, handle: string): Promise<string>;
  addContact(userId: string): Promise<void>;
  connect(): Promise<string>;
  invite(to: string): Promise<string>;
  acceptNextCall(): Promise<string>;
  waitForState(callId: string, state: string): Promise<string>;
  join(callId: string): Promise<void>;
  ready(): Promise<void>;
  transportBytes(): Promise<{ sent: number; received: number }>;
  info(): {
    tracks: string[];
    restarts: number;
    errors: string[];
    remoteTracks: string[];
    closed: boolean;
    states: string[];
    joins: number;
    capabilityRequests: number;
  };
  hangup(callId: string): Promise<string>;
  disconnect(): void;
}

type Method = keyof PageApi;

/** Calls window.sdkPage[method](...args) in the page. */
function call<M extends Method>(page: Page, method: M, ...args: Parameters<PageApi[M]>): Promise<Awaited<ReturnType<PageApi[M]>>> {
  return page.evaluate(
    ([name, params]) => (window as unknown as { sdkPage: Record<string, (...a: unknown[]) => unknown> }).sdkPage[name](...params),
    [method, args] as [string, unknown[]],
  ) as Promise<Awaited<ReturnType<PageApi[M]>>>;
}

/** Waits until the page's audio bytes (sent and received) both pass `above`; returns them. */
async function audioFlowing(page: Page, above = { sent: 0, received: 0 }): Promise<{ sent: number; received: number }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const bytes = await call(page, 'transportBytes');
    if (bytes.sent > above.sent && bytes.received > above.received) return bytes;
    if (Date.now() > deadline) throw new Error(`audio not flowing: ${JSON.stringify(bytes)}`);
    await page.waitForTimeout(200);
  }
}

/**
 * The packed browser entry (dist/browser.mjs, bundled into a page with
 * socket.io-client and mediasoup-client) in two Chromium pages with fake
 * microphones: WebRtcCall joins the call's media, audio flows both ways, a
 * killed mediasoup worker (media:restart) is ridden out, and the call's end
 * closes the media.
 */
describeWithBrowser('the SDK browser entry (WebRtcCall) in Chromium', () => {
  jest.setTimeout(180_000);
  let gw: TestGateway;
  let context: BrowserContext;
  let profileDir: string;
  let pageScript: string;

  beforeAll(async () => {
    const build = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(PACKAGE_DIR, 'build.mjs'), '--js-only'], { cwd: ROOT, stdio: 'inherit' });
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (build !== 0) throw new Error(`package build exited ${build}`);
    const esbuild = await import('esbuild');
    try {
      const bundled = await esbuild.build({
        entryPoints: [path.join(PACKAGE_DIR, 'test/browser-page.mjs')],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: 'es2020',
        logLevel: 'silent',
      });
      pageScript = bundled.outputFiles[0].text;
    } finally {
      await esbuild.stop();
    }
    gw = await startTestGateway();
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: BROWSER_ARGS });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await gw?.close();
  });

  async function openPage(handle: string): Promise<{ page: Page; id: string }> {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error(`[${handle}] page error: ${err.message}`));
    // Any page of the gateway's origin: the SDK then talks to it without CORS.
    await page.goto(`${gw.url}/health/live`);
    await page.addScriptTag({ content: pageScript });
    const id = await call(page, 'login', gw.url, handle);
    return { page, id };
  }

  it('joins a call with WebRtcCall: audio both ways, through a media restart, closed when the call ends', async () => {
    const [ann, bob] = await Promise.all([openPage(uniqueHandle('wann')), openPage(uniqueHandle('wbob'))]);
    await Promise.all([call(ann.page, 'addContact', bob.id), call(bob.page, 'addContact', ann.id)]);
    expect(await Promise.all([call(ann.page, 'connect'), call(bob.page, 'connect')])).toEqual(['connected', 'connected']);

    const accepted = call(bob.page, 'acceptNextCall');
    const callId = await call(ann.page, 'invite', bob.id);
    expect(await accepted).toBe(callId);
    await call(ann.page, 'waitForState', callId, 'active');
    await Promise.all([call(ann.page, 'join', callId), call(bob.page, 'join', callId)]);

    const [annBytes, bobBytes] = await Promise.all([audioFlowing(ann.page), audioFlowing(bob.page)]);
    for (const page of [ann.page, bob.page]) {
      const info = await call(page, 'info');
      expect(info.remoteTracks).toEqual(['audio']);
      expect(info.tracks).toEqual(['audio']);
    }

    // The worker holding the call dies: both pages hear media:restart and set up again on their own.
    const pool = gw.get(WorkerPool);
    const pid = pool.workers()[0].pid;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while ((await call(ann.page, 'info')).restarts < 1 || (await call(bob.page, 'info')).restarts < 1) {
      if (Date.now() > deadline) throw new Error('no media:restart reached the pages');
      await ann.page.waitForTimeout(200);
    }
    await Promise.all([call(ann.page, 'ready'), call(bob.page, 'ready')]);
    // New transports count from zero: flowing again means new bytes both ways.
    await Promise.all([audioFlowing(ann.page), audioFlowing(bob.page)]);
    expect(annBytes.sent).toBeGreaterThan(0);
    expect(bobBytes.received).toBeGreaterThan(0);
    for (const page of [ann.page, bob.page]) {
      const info = await call(page, 'info');
      // One audio track before the restart and one after it, only the new one still held.
      expect(info).toMatchObject({ restarts: 1, errors: [], tracks: ['audio', 'audio'], remoteTracks: ['audio'], closed: false });
      // media:join both times; media:capabilities only the first time (the page's Device knew them after).
      expect({ joins: info.joins, capabilityRequests: info.capabilityRequests }).toEqual({ joins: 2, capabilityRequests: 1 });
    }

    expect(await call(ann.page, 'hangup', callId)).toBe('hangup');
    await call(bob.page, 'waitForState', callId, 'ended');
    for (const page of [ann.page, bob.page]) {
      expect(await call(page, 'info')).toMatchObject({ closed: true, remoteTracks: [] });
      await call(page, 'disconnect');
    }
    expect((await call(ann.page, 'info')).states).toEqual(['connecting', 'connected', 'disconnected']);
  });
});
