import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { AdminClient } from '@app/client';
import { WorkerPool } from '@app/media';
import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN, uniqueHandle } from '@app/testing';
import { buildDemo } from '../../apps/demo/build';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) {
  // `npm test` runs `scripts/setup.js --test`, which installs it when it can.
  console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}
const describeWithBrowser = haveChromium ? describe : describe.skip;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

interface MediaStats {
  audioBytesReceived: number;
  audioBytesSent: number;
}

/** Two people in real Chromium pages using /demo: chat, then a voice call with audio both ways, kept through a media restart. */
describeWithBrowser('browser client (/demo) in Chromium', () => {
  jest.setTimeout(180_000);
  let gw: TestGateway;
  let context: BrowserContext;
  let profileDir: string;

  beforeAll(async () => {
    // The page as the sources are now (the gateway serves the build).
    await buildDemo();
    gw = await startTestGateway();
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-chromium-'));
    // A fresh profile each run; playwright takes the profile directory as launchPersistentContext's argument.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });
  afterAll(async () => {
    await context?.close();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await gw?.close();
  });

  async function logIn(handle: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error(`[${handle}] page error: ${err.message}`));
    await page.goto(`${gw.url}/demo`);
    await page.fill('#login-handle', handle);
    await page.click('#login-form button');
    await page.waitForSelector('#app', { state: 'visible' });
    await expectText(page, '#status', 'online');
    return page;
  }

  async function expectText(page: Page, selector: string, text: string, timeout = 20_000): Promise<void> {
    await page.waitForFunction(
      ([sel, t]) => (document.querySelector(sel)?.textContent ?? '').includes(t),
      [selector, text] as const,
      { timeout },
    );
  }

  async function expectNoText(page: Page, selector: string, text: string, timeout = 20_000): Promise<void> {
    await page.waitForFunction(
      ([sel, t]) => !(document.querySelector(sel)?.textContent ?? '').includes(t),
      [selector, text] as const,
      { timeout },
    );
  }

  async function mediaStats(page: Page): Promise<MediaStats | null> {
    return page.evaluate(() =>
      (window as unknown as { demo: { mediaStats(): Promise<MediaStats | null> } }).demo.mediaStats(),
    );
  }

  /** Waits until the page has received audio, then until it has received more: audio is flowing, not a blip. */
  async function expectAudioFlowing(page: Page): Promise<MediaStats> {
    const deadline = Date.now() + 30_000;
    let first: MediaStats | null = null;
    for (;;) {
      const stats = await mediaStats(page);
      if (stats && stats.audioBytesReceived > 0) {
        if (!first) first = stats;
        else if (stats.audioBytesReceived > first.audioBytesReceived + 2000) return stats;
      }
      if (Date.now() > deadline) throw new Error(`audio not flowing: ${JSON.stringify(stats)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Polls until the page's sent audio bytes stop growing (muted) — bounded, no fixed sleep decides. */
  async function expectAudioSendingStopped(page: Page): Promise<number> {
    const deadline = Date.now() + 15_000;
    let previous = -1;
    for (;;) {
      const sent = (await mediaStats(page))?.audioBytesSent ?? 0;
      if (sent === previous) return sent;
      if (Date.now() > deadline) throw new Error(`audio still being sent: ${sent} bytes`);
      previous = sent;
      await new Promise((r) => setTimeout(r, 400));
    }
  }

  async function expectAudioSendingAbove(page: Page, bytes: number): Promise<void> {
    await page.waitForFunction(
      async (min) => {
        const s = await (window as unknown as { demo: { mediaStats(): Promise<MediaStats | null> } }).demo.mediaStats();
        return (s?.audioBytesSent ?? 0) > min;
      },
      bytes + 2000,
      { timeout: 20_000, polling: 250 },
    );
  }

  it('two pages: contacts that turn mutual live, typing, read receipts, the flag shown live, and a voice call with mute and audio both ways that survives its media worker dying', async () => {
    const annHandle = uniqueHandle('ann');
    const bobHandle = uniqueHandle('bob');
    const ann = await logIn(annHandle);
    const bob = await logIn(bobHandle);
    const annId = await ann.evaluate(() => (window as unknown as { demo: { user: { id: string } } }).demo.user.id);

    // Contacts both ways (a call needs mutual contacts); adding selects the chat.
    await ann.fill('#add-handle', bobHandle);
    await ann.click('#add-form button');
    const bobOnAnnsList = `#contacts button[data-handle="${bobHandle}"]`;
    await ann.waitForSelector(`${bobOnAnnsList}.selected`);
    await expectText(ann, bobOnAnnsList, 'not mutual');
    await bob.fill('#add-handle', annHandle);
    await bob.click('#add-form button');
    await bob.waitForSelector(`#contacts button[data-handle="${annHandle}"].selected`);
    // contacts:changed reaches ann: bob is mutual now, without a reload or any message.
    await expectNoText(ann, bobOnAnnsList, 'not mutual');

    // Typing: bob has ann's chat open and sees her type.
    await ann.type('#message-body', 'hello from ann');
    await expectText(bob, '#typing', `@${annHandle} is typing`);

    // Chat with read receipts: bob's open chat reads the message, ann sees it read.
    await ann.click('#send-button');
    await expectText(bob, '#messages li.theirs', 'hello from ann');
    await expectNoText(bob, '#typing', 'is typing');
    await ann.waitForSelector('#messages li.mine[data-read="true"]');
    await expectText(ann, '#messages li.mine', 'Read');
    await bob.fill('#message-body', 'hi ann, bob here');
    await bob.click('#send-button');
    await expectText(ann, '#messages li.theirs', 'hi ann, bob here');
    expect(await ann.locator('#messages li').count()).toBe(2);

    // The flag's state is shown, and the video button exists only while it is on; both follow flags:changed live.
    expect(await ann.isVisible('#video-button')).toBe(false);
    await expectText(ann, '#flag-video', 'video calls: off');
    const admin = new AdminClient(gw.url, TEST_ADMIN_TOKEN);
    await admin.setFlag('video_call', { enabled: true, rolloutPercent: 0, allowUserIds: [annId] });
    await ann.waitForSelector('#video-button', { state: 'visible' });
    await expectText(ann, '#flag-video', 'video calls: on');
    expect(await bob.isVisible('#video-button')).toBe(false);
    await expectText(bob, '#flag-video', 'video calls: off');
    await admin.setFlag('video_call', { enabled: false, allowUserIds: [] });
    await ann.waitForSelector('#video-button', { state: 'hidden' });
    await expectText(ann, '#flag-video', 'video calls: off');

    // Voice call: ring, accept, timer with the 60-minute cap.
    await ann.click('#call-button');
    await expectText(ann, '#call-status', 'ringing');
    await bob.waitForSelector('#accept-button', { state: 'visible' });
    await expectText(bob, '#call-status', `Incoming call from @${annHandle}`);
    await bob.click('#accept-button');
    for (const page of [ann, bob]) {
      await page.waitForSelector('#hangup-button', { state: 'visible' });
      await expectText(page, '#call-cap', 'limit 1:00:00');
      await expectText(page, '#call-timer', '00:0');
    }

    // Audio both ways, proven by each page's WebRTC statistics.
    const [annStats, bobStats] = await Promise.all([expectAudioFlowing(ann), expectAudioFlowing(bob)]);
    expect(annStats.audioBytesSent).toBeGreaterThan(0);
    expect(bobStats.audioBytesSent).toBeGreaterThan(0);

    // Mute stops ann's microphone from sending at all; unmute brings it back.
    await ann.click('#mute-button');
    await expectText(ann, '#mute-button', 'Unmute');
    const mutedAt = await expectAudioSendingStopped(ann);
    await ann.click('#mute-button');
    await expectText(ann, '#mute-button', 'Mute');
    await expectAudioSendingAbove(ann, mutedAt);

    // The mediasoup worker holding the call dies mid-call: both pages hear media:restart, say so,
    // drop their transports and negotiate again by themselves, and audio flows again both ways
    // (statistics of the new receive transports, which start from zero).
    const pool = gw.get(WorkerPool);
    const pid = pool.workers()[0].pid;
    process.kill(pid, 'SIGKILL');
    for (const page of [ann, bob]) {
      await expectText(page, '#call-log', 'Call media moved (worker_died)');
      await expectText(page, '#call-log', 'Call media back after restart 1');
    }
    expect(pool.workers()[0].pid).not.toBe(pid);
    await Promise.all([expectAudioFlowing(ann), expectAudioFlowing(bob)]);
    await expectText(ann, '#call-status', `Call with @${bobHandle}`);
    expect(await ann.evaluate(() => (window as unknown as { demo: { mediaRestarts: number } }).demo.mediaRestarts)).toBe(1);

    await ann.click('#hangup-button');
    await expectText(ann, '#call-status', 'ended (hangup)');
    await expectText(bob, '#call-status', 'ended (hangup)');
    expect(await mediaStats(ann)).toBeNull();
  });
});
