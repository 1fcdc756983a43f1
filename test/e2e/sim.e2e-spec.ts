import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN } from '@app/testing';
import { DEFAULT_SIM_OPTIONS, runSimulation, SimProgress } from '../../apps/sim/src/simulation';
import { parseCli, UsageError } from '../../apps/sim/src/sim-cli';

/** The simulator's core against a real gateway: messages, voice calls with real Opus tones, the video flag experiment. */
describe('simulator', () => {
  jest.setTimeout(180_000);
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('delivers every message once, connects every call and hears both tones', async () => {
    const phases = new Set<SimProgress['phase']>();
    const report = await runSimulation(
      {
        ...DEFAULT_SIM_OPTIONS,
        url: gw.url,
        adminToken: TEST_ADMIN_TOKEN,
        users: 4,
        messagesPerUser: 3,
        messageRate: 50,
        calls: 2,
        callSeconds: 1.5,
        concurrentCalls: 2,
        videoShare: 0.5,
        videoCalls: 4,
        settleMs: 5000,
        seed: 7,
      },
      (p) => phases.add(p.phase),
    );

    expect(report.errors).toEqual([]);
    expect(report).toMatchObject({ users: 4, friendships: 6, passed: true });
    expect(report.messages).toMatchObject({ sent: 12, delivered: 12, duplicated: 0, lost: 0, failed: 0 });
    expect(report.messages.latencyMs.count + report.messages.deliveredViaSync).toBe(12);
    expect(report.messages.latencyMs.p99).toBeGreaterThan(0);

    expect(report.calls).toMatchObject({ placed: 2, connected: 2, failed: 0, endedByReason: { hangup: 2 } });
    expect(report.calls.setupMs.count).toBe(2);
    // 1.5 s of 20 ms frames each way per call.
    expect(report.calls.audio.packetsSent).toBe(2 * 2 * 75);
    expect(report.calls.audio.packetsReceived).toBeGreaterThanOrEqual(0.9 * report.calls.audio.packetsSent);
    expect(report.calls.audio).toMatchObject({ toneChecks: 4, tonePassed: 4, tonePassRate: 1 });

    expect(report.videoExperiment).toMatchObject({ share: 0.5, usersWithVideo: 2, attempted: 4, unexpected: 0, failed: 0 });
    expect(report.videoExperiment!.refused + report.videoExperiment!.completed).toBe(4);
    expect([...phases]).toEqual(['users', 'messages', 'calls', 'video', 'done']);
  });

  it('churns for a set time: calls keep starting and ending while messages flow, and reports its own usage', async () => {
    const phases = new Set<SimProgress['phase']>();
    const report = await runSimulation(
      {
        ...DEFAULT_SIM_OPTIONS,
        url: gw.url,
        users: 6,
        messageRate: 10,
        callSeconds: 1,
        concurrentCalls: 2,
        callRate: 20,
        settleMs: 3000,
        durationMs: 5000,
        seed: 9,
      },
      (p) => phases.add(p.phase),
    );
    expect(report.errors).toEqual([]);
    expect(report.passed).toBe(true);
    // Two lanes of about 1.5 s calls for 5 s: several calls each, one after another.
    expect(report.calls.placed).toBeGreaterThanOrEqual(4);
    expect(report.calls.peakConcurrentCalls).toBe(2);
    expect(report.messages.sent).toBeGreaterThanOrEqual(40);
    expect(report.messages.delivered).toBe(report.messages.sent);
    expect([...phases]).toEqual(['users', 'churn', 'done']);
    expect(report.simulator!.cpuCores).toBeGreaterThan(0);
    expect(report.simulator!.rssMb.peak).toBeGreaterThan(0);
    expect(report.timing!.callSetup.serverMs).toBeGreaterThan(0);
    expect(report.timing!.serverEventMs['call:invite']).toBeGreaterThan(0);
  });

  it('checks its command line', () => {
    expect(parseCli(['--users', '20', '--calls', '10'], {})).toMatchObject({ users: 20, calls: 10, concurrentCalls: 10 });
    expect(parseCli(['--help'], {})).toBe('help');
    expect(() => parseCli(['--users', 'many'], {})).toThrow(UsageError);
    expect(() => parseCli(['--video-share', '1.5'], {})).toThrow(/video-share/);
    expect(() => parseCli(['--bogus'], {})).toThrow(UsageError);
    expect(parseCli(['--duration', '10m', '--rtp-ip', '127.0.0.3', '--call-rate', '5'], {})).toMatchObject({
      durationMs: 600_000,
      rtpIp: '127.0.0.3',
      callRate: 5,
    });
    expect(parseCli(['--duration', '90'], {})).toMatchObject({ durationMs: 90_000 });
    expect(parseCli([], {})).toMatchObject({ durationMs: undefined, rtpIp: undefined });
    expect(() => parseCli(['--duration', 'forever'], {})).toThrow(/--duration/);
    expect(() => parseCli(['--duration', '0.5s'], {})).toThrow(/--duration/);
    expect(() => parseCli(['--rtp-ip', 'my-laptop'], {})).toThrow(/--rtp-ip/);
  });
});
