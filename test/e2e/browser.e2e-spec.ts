import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { AdminClient } from '@app/client';
import { WorkerPool } from '@app/media';
import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN, uniqueHandle, sleep } from '@app/testing';
import { buildDemo } from '../../apps/demo/build';
import { CHROMIUM, haveChromium, CHROMIUM_ARGS, FAKE_MEDIA_ARGS } from '../support/chromium';

if (!haveChromium) {
  // `npm test` runs `scripts/setup.js --test`, which installs it when it can.
  console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}
const describeWithBrowser = haveChromium ? describe : describe.skip;

const BROWSER_ARGS = [...CHROMIUM_ARGS, ...FAKE_MEDIA_ARGS];

interface MediaStats {
  audioBytesReceived: number;
  audioBytesSent: number;
  videoFramesDecoded: number;
  videoFramesEncoded: number;
  videoFrameWidth?: number;
  setup: 'join' | 'steps';
}

/** Set to a file name to have the video test save both pages in a video call as one picture (the docs' screenshot). */
const SCREENSHOT = process.env.DEMO_SCREENSHOT;

/**
 * Two people in real Chromium pages using /demo: chat, then a voice call with
 * audio both ways, kept through a media restart; and a video call (fake
 * camera) whose pictures are decoded on both pages, with the quality panel
 * fed by call:quality.
 */
describeWithBrowser('browser client (/demo) in Chromium', () => {
  jest.setTimeout(180_000);
  let gw: TestGateway;
  let context: BrowserContext;
  let profileDir: string;

  beforeAll(async () => {
    // The page as the sources are now (the gateway serves the build).
    await buildDemo();
    // call:quality every 500 ms, so the panel fills within the test.
    gw = await startTestGateway({ env: { CALL_QUALITY_INTERVAL_MS: '500' } });
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-chromium-'));
    // A fresh profile each run; playwright takes the profile directory as launchPersistentContext's argument.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: BROWSER_ARGS,
    });
  });
  afterAll(async () => {
    await context?.close();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await gw?.close();
  });

  async function logIn(handle: string): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1100, height: 780 });
    page.on('pageerror', (err) => console.error(`[${handle}] page error: ${err.message}`));
    await page.goto(`${gw.url}/demo`);
    await page.fill('#login-handle', handle);
    await page.click('#login-form button');
    await page.waitForSelector('#app', { state: 'visible' });
    await expectText(page, '#status', 'online');
    return page;
  }

  async function expectText(page: Page, selector: string, text: string, timeout = 20_000): Promise<void> {
    await page.waitForFunction(([sel, t]) => (document.querySelector(sel)?.textContent ?? '').includes(t), [selector, text] as const, {
      timeout,
    });
  }

  async function expectNoText(page: Page, selector: string, text: string, timeout = 20_000): Promise<void> {
    await page.waitForFunction(([sel, t]) => !(document.querySelector(sel)?.textContent ?? '').includes(t), [selector, text] as const, {
      timeout,
    });
  }

  async function mediaStats(page: Page): Promise<MediaStats | null> {
    return page.evaluate(() => (window as unknown as { demo: { mediaStats(): Promise<MediaStats | null> } }).demo.mediaStats());
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
      await sleep(250);
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
      await sleep(400);
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
    // Set up with media:join both times; after the restart in one request, with the capabilities learnt the first time.
    for (const page of [ann, bob]) {
      const setups = await page.evaluate(
        () => (window as unknown as { demo: { mediaSetups: { joins: number; capabilityRequests: number } } }).demo.mediaSetups,
      );
      expect(setups).toEqual({ joins: 2, capabilityRequests: 1 });
    }

    await ann.click('#hangup-button');
    await expectText(ann, '#call-status', 'ended (hangup)');
    await expectText(bob, '#call-status', 'ended (hangup)');
    expect(await mediaStats(ann)).toBeNull();
  });

  /** Two logged-in pages that have each other as contacts. */
  async function mutualPair(): Promise<{ ann: Page; bob: Page; annHandle: string; bobHandle: string }> {
    const annHandle = uniqueHandle('vann');
    const bobHandle = uniqueHandle('vbob');
    const ann = await logIn(annHandle);
    const bob = await logIn(bobHandle);
    await ann.fill('#add-handle', bobHandle);
    await ann.click('#add-form button');
    await ann.waitForSelector(`#contacts button[data-handle="${bobHandle}"].selected`);
    await bob.fill('#add-handle', annHandle);
    await bob.click('#add-form button');
    await bob.waitForSelector(`#contacts button[data-handle="${annHandle}"].selected`);
    await expectNoText(ann, `#contacts button[data-handle="${bobHandle}"]`, 'not mutual');
    await ann.fill('#message-body', 'video?');
    await ann.click('#send-button');
    await expectText(bob, '#messages li.theirs', 'video?');
    await bob.fill('#message-body', 'sure, call me');
    await bob.click('#send-button');
    await expectText(ann, '#messages li.theirs', 'sure, call me');
    return { ann, bob, annHandle, bobHandle };
  }

  const userIdOf = (page: Page) => page.evaluate(() => (window as unknown as { demo: { user: { id: string } } }).demo.user.id);

  /** Waits until the page has decoded the other side's video, then until it has decoded more: pictures keep coming. */
  async function expectVideoDecoding(page: Page): Promise<MediaStats> {
    const deadline = Date.now() + 40_000;
    let first: MediaStats | null = null;
    for (;;) {
      const stats = await mediaStats(page);
      if (stats && stats.videoFramesDecoded > 0) {
        if (!first) first = stats;
        else if (stats.videoFramesDecoded >= first.videoFramesDecoded + 10) return stats;
      }
      if (Date.now() > deadline) throw new Error(`video not decoding: ${JSON.stringify(stats)}`);
      await sleep(250);
    }
  }

  interface QualityRow {
    user: string;
    direction: string;
    kind: string;
    bitrate: string;
    loss: string;
    jitter: string;
    score: string;
  }

  /** The quality panel's rows once at least `samples` call:quality pushes were shown. */
  async function qualityRows(page: Page, samples: number): Promise<QualityRow[]> {
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('#quality')?.dataset.samples ?? 0) >= n, samples, {
      timeout: 30_000,
    });
    return page.$$eval('#quality-legs tr', (rows) =>
      rows.map((row) => {
        const cell = (field: string) => row.querySelector(`[data-field="${field}"]`)?.textContent ?? '';
        const data = (row as HTMLElement).dataset;
        return {
          user: data.user ?? '',
          direction: data.direction ?? '',
          kind: data.kind ?? '',
          bitrate: cell('bitrate'),
          loss: cell('loss'),
          jitter: cell('jitter'),
          score: cell('score'),
        };
      }),
    );
  }

  /** Both pages side by side in one picture, at `file`. */
  async function saveSideBySide(pages: Page[], file: string): Promise<void> {
    const shots = await Promise.all(pages.map((p) => p.screenshot()));
    const sheet = await context.newPage();
    const width = 1100 * pages.length + 12 * (pages.length + 1);
    await sheet.setViewportSize({ width, height: 780 + 24 });
    const images = shots.map((png) => `<img src="data:image/png;base64,${png.toString('base64')}">`).join('');
    await sheet.setContent(`<body style="margin:0;padding:12px;display:flex;gap:12px;background:#8a93a6">${images}</body>`);
    await sheet.waitForFunction(() => Array.from(document.images).every((img) => img.complete && img.naturalWidth > 0));
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    await sheet.screenshot({ path: file, fullPage: true });
    await sheet.close();
  }

  it("a video call between two pages: each decodes the other's camera, shows it, and fills the quality panel from call:quality", async () => {
    const { ann, bob, annHandle, bobHandle } = await mutualPair();
    const [annId, bobId] = await Promise.all([userIdOf(ann), userIdOf(bob)]);
    const admin = new AdminClient(gw.url, TEST_ADMIN_TOKEN);
    await admin.setFlag('video_call', { enabled: true, rolloutPercent: 0, allowUserIds: [annId, bobId] });
    await ann.waitForSelector('#video-button', { state: 'visible' });

    await ann.click('#video-button');
    await bob.waitForSelector('#accept-button', { state: 'visible' });
    await expectText(bob, '#call-status', `Incoming video call from @${annHandle}`);
    // Before the answer there is no quality panel.
    expect(await bob.isVisible('#quality')).toBe(false);
    await bob.click('#accept-button');
    await expectText(ann, '#call-status', `Video call with @${bobHandle}`);

    // Pictures both ways, proven by each page's decoder, and shown in the remote <video>.
    const [annStats, bobStats] = await Promise.all([expectVideoDecoding(ann), expectVideoDecoding(bob)]);
    for (const stats of [annStats, bobStats]) {
      expect(stats.videoFramesEncoded).toBeGreaterThan(0);
      expect(stats.videoFrameWidth).toBeGreaterThan(0);
      expect(stats.audioBytesReceived).toBeGreaterThan(0);
      // The media was set up with media:join (consumers made by the server, none asked for one by one).
      expect(stats.setup).toBe('join');
    }
    for (const page of [ann, bob]) {
      await page.waitForSelector('#remote-video', { state: 'visible' });
      await page.waitForFunction(() => {
        const video = document.querySelector<HTMLVideoElement>('#remote-video');
        return !!video && video.videoWidth > 0 && video.readyState >= 2 && !video.paused;
      });
      await page.waitForSelector('#local-video', { state: 'visible' });
    }

    // The quality panel: a row per leg the SFU measured, all numbers, video legs carrying bits.
    for (const [page, me, peer] of [
      [ann, annId, bobId],
      [bob, bobId, annId],
    ] as const) {
      // The second sample covers an interval in which video flowed throughout.
      const rows = await qualityRows(page, 2);
      expect(rows.length).toBeGreaterThanOrEqual(2);
      for (const row of rows) {
        for (const value of [row.bitrate, row.loss, row.jitter]) expect(Number.isFinite(Number(value))).toBe(true);
        expect([me, peer]).toContain(row.user);
      }
      const myVideoDown = rows.find((r) => r.user === me && r.direction === 'down' && r.kind === 'video');
      const myVideoUp = rows.find((r) => r.user === me && r.direction === 'up' && r.kind === 'video');
      expect(Number(myVideoDown?.bitrate)).toBeGreaterThan(0);
      expect(Number(myVideoUp?.bitrate)).toBeGreaterThan(0);
      await expectNoText(page, '#quality-status', 'waiting');
    }

    if (SCREENSHOT) await saveSideBySide([ann, bob], SCREENSHOT);

    await bob.click('#hangup-button');
    for (const page of [ann, bob]) {
      await expectText(page, '#call-status', 'ended (hangup)');
      await page.waitForSelector('#quality', { state: 'hidden' });
      await page.waitForSelector('#remote-video', { state: 'hidden' });
    }
    expect(await mediaStats(ann)).toBeNull();
    await admin.setFlag('video_call', { enabled: false, allowUserIds: [] });
    await Promise.all([ann.close(), bob.close()]);
  });
});
