import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN } from '@app/testing';
import { renderExperimentHtml } from '../../apps/sim/src/experiment/experiment-html';
import { ExperimentReport } from '../../apps/sim/src/experiment/experiment-report';
import { NETWORK_PROFILES, NetworkProfileName } from '@app/client';
import { runVideoCallExperiment, VideoExperimentRunOptions } from '../../apps/sim/src/experiment/video-call-experiment';
import { CHROMIUM, CHROMIUM_ARGS } from '../support/chromium';

const QUALITY_INTERVAL_MS = 500;

/** The video experiment against a real gateway: cohorts, real media through seeded network conditions, a kill switch, the reports. */
describe('video experiment', () => {
  jest.setTimeout(240_000);
  let gw: TestGateway;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-experiment-'));

  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_QUALITY_INTERVAL_MS: String(QUALITY_INTERVAL_MS) } });
  });
  afterAll(async () => {
    await gw?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const options = (over: Partial<VideoExperimentRunOptions> & { profile?: NetworkProfileName }): VideoExperimentRunOptions => ({
    urls: [gw.url],
    adminToken: TEST_ADMIN_TOKEN,
    users: 4,
    friendsPerUser: 3,
    videoShare: 0.5,
    durationMs: 12_000,
    concurrentCalls: 2,
    callRate: 10,
    minTalkMs: 2500,
    maxTalkMs: 4000,
    network: NETWORK_PROFILES[over.profile ?? 'good'],
    networkProfile: over.profile ?? 'good',
    seed: 3,
    qualityIntervalMs: QUALITY_INTERVAL_MS,
    ...over,
  });

  it('switches video off mid-run: every live video producer closes within a second, audio goes on, later video pairs call as voice', async () => {
    // Everyone has video; three lanes start their first calls within 2.5 s and talk 10-12 s, so all three are live at 9 s
    // and talk on well past the close; the next calls come after the switch.
    const report = await runVideoCallExperiment(
      options({
        users: 6,
        videoShare: 1,
        concurrentCalls: 3,
        durationMs: 24_000,
        minTalkMs: 10_000,
        maxTalkMs: 12_000,
        killSwitchAtMs: 9000,
        profile: 'lossy',
      }),
    );
    const failures = report.findings.filter((f) => f.severity === 'fail');
    // Each failed call's error beside the findings: what to look at when the run went wrong.
    const failedCalls = report.calls
      .filter((c) => c.outcome === 'failed')
      .map((c) => ({ index: c.index, placedAs: c.placedAs, afterKillSwitch: c.afterKillSwitch, error: c.error }));
    expect({ failures, failedCalls }).toEqual({ failures: [], failedCalls: [] });
    const k = report.killSwitch!;
    expect(k.atMs).toBeGreaterThanOrEqual(8900);
    expect(k.liveVideoCalls).toBeGreaterThanOrEqual(1);
    expect(k.videoProducers).toBe(2 * k.liveVideoCalls);
    expect(k.closedWithinSecond).toBe(k.videoProducers);
    expect(k.audioChecked).toBeGreaterThanOrEqual(1);
    expect(k.audioContinued).toBe(k.audioChecked);
    expect(k.laterVideoPairCalls).toBeGreaterThanOrEqual(1);
    expect(k.laterRefused).toBe(k.laterVideoPairCalls);
    expect(k.laterAsVideo).toBe(0);
    const video = report.cohorts.find((c) => c.cohort === 'video')!;
    expect(video.calls.video).toBeGreaterThanOrEqual(1);
    expect(video.calls.downgraded).toBe(k.laterRefused);
    expect(video.video.framesIntact).toBeGreaterThan(0);
    // The server's call:quality pushes are gathered when the gateway sends them; when it does not, the report says so.
    if (video.qualityPushes === 0) expect(report.server.unavailable).toContainEqual(expect.stringMatching(/^call:quality pushes/));
    // Its flag report agrees with the clients (no disagreement finding above).
    expect(report.server.flagReport?.key).toBe('video_call');
    expect(report.bitrate.length).toBeGreaterThanOrEqual(15);

    await expectChartsRender(report, true);
  });

  it('holds to physics: video calls move at least 5x the bytes of voice calls, and MOS is lower on a lossy network than on a good one', async () => {
    // Seed 4: users 0 and 2 have video and the first calls planned are 0-2 (video) and 1-3 (voice).
    const good = await runVideoCallExperiment(options({ profile: 'good', seed: 4 }));
    const lossy = await runVideoCallExperiment(options({ profile: 'lossy', seed: 4 }));
    for (const r of [good, lossy]) {
      expect(r.findings.filter((f) => f.severity === 'fail')).toEqual([]);
      expect(r.passed).toBe(true);
    }
    const [video, voice] = ['video', 'voice'].map((c) => good.cohorts.find((x) => x.cohort === c)!);
    expect(video.calls.video).toBeGreaterThanOrEqual(1);
    expect(video.clientBytesPerCallMinute!).toBeGreaterThanOrEqual(5 * voice.clientBytesPerCallMinute!);
    // The SFU's witness agrees on the bytes (mediaStats of each call).
    expect(video.serverBytesPerCallMinute!).toBeGreaterThanOrEqual(5 * voice.serverBytesPerCallMinute!);
    const mosOf = (r: ExperimentReport) => r.cohorts.flatMap((c) => c.mos.values);
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    expect(median(mosOf(lossy))).toBeLessThan(median(mosOf(good)));
    expect(median(mosOf(good))).toBeGreaterThan(4);
    const lossOf = (r: ExperimentReport) => r.cohorts.flatMap((c) => c.audioLoss.values);
    expect(median(lossOf(lossy))).toBeGreaterThan(median(lossOf(good)));
  });

  it('exits 2 on an impossible value naming its flag, and 3 when the run crashes (the command as a process)', () => {
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          '-r',
          'tsconfig-paths/register',
          'apps/sim/src/main.ts',
          '--experiment',
          'video',
          ...args,
        ],
        {
          cwd: path.resolve(__dirname, '..', '..'),
          env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json' },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    const usage = run('--loss', '1.5');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^--loss must be a probability from 0 to 1, got 1.5/);
    // Nothing listens on the discard port: the admin API cannot be reached.
    const crashed = run('--url', 'http://127.0.0.1:9', '--admin-token', 'x', '--out', path.join(dir, 'never.json'));
    expect(crashed.status).toBe(3);
    expect(crashed.stderr).toContain('simulation crashed');
    expect(fs.existsSync(path.join(dir, 'never.json'))).toBe(false);
  });

  /** Opens the page in headless Chromium: every chart is drawn with a size, the kill-switch marker where expected. */
  async function expectChartsRender(report: ExperimentReport, killSwitch: boolean): Promise<void> {
    const file = path.join(dir, 'report.html');
    fs.writeFileSync(file, renderExperimentHtml(report));
    if (!fs.existsSync(CHROMIUM)) {
      console.warn(`chart rendering not checked: no Chromium at ${CHROMIUM} (node scripts/setup.js --browser)`);
      return;
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`);
      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((s) => {
          const box = s.getBoundingClientRect();
          const marks = Array.from(s.querySelectorAll('rect, polyline')).map((m) => (m as SVGGraphicsElement).getBBox());
          return { id: s.id, width: box.width, height: box.height, drawn: marks.filter((b) => b.width > 0 || b.height > 0).length };
        }),
      );
      expect(charts.map((c) => c.id).sort()).toEqual([
        'chart-bitrate',
        'chart-bytes',
        'chart-cpu',
        'chart-loss',
        'chart-mos',
        'chart-setup',
      ]);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(100);
        expect(c.height).toBeGreaterThan(100);
        expect(c.drawn).toBeGreaterThan(0);
      }
      const marker = await page.$eval('#kill-switch-marker', (g) => (g as SVGGraphicsElement).getBBox().height).catch(() => 0);
      if (killSwitch) expect(marker).toBeGreaterThan(0);
      else expect(marker).toBe(0);
      // Self-contained: nothing but the page itself was loaded.
      expect(requests).toEqual([`file://${file}`]);
      await page.screenshot({ path: path.join(dir, 'report.png'), fullPage: true });
      expect(fs.statSync(path.join(dir, 'report.png')).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  }
});
