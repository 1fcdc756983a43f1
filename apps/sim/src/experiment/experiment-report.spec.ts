import type { FlagReportDto } from '@app/contracts';
import { renderExperimentHtml } from './experiment-html';
import { buildExperimentReport, CallRecord, ExperimentObservations, KillSwitchRecord, tallyByServerVariant } from './experiment-report';
import { cpuPerCallSecond, GaugeIntegral, parseNodeWorkerCpuGauge, parseWorkerCpuMetric } from './sfu-cpu';
import { isVp8KeyFrame, NETWORK_PROFILES, parseVp8Descriptor, VideoClip } from '@app/client';
import { ClipSender, clipFramePayloads, loadExperimentClip } from './clip-video';

const audioLeg = (receiver: 'caller' | 'callee', loss: number, mos: number) => ({
  receiver,
  kind: 'audio' as const,
  packets: 500,
  bytes: 60_000,
  lossRatio: loss,
  jitterMs: 3,
  mos,
  toneHeard: true,
});
const videoLeg = (receiver: 'caller' | 'callee') => ({
  receiver,
  kind: 'video' as const,
  packets: 900,
  bytes: 900_000,
  lossRatio: 0.01,
  jitterMs: 2,
  framesSent: 150,
  framesIntact: 140,
  framesDecodable: 120,
  freezeMs: 800,
});

function call(over: Partial<CallRecord>): CallRecord {
  return {
    index: 0,
    cohort: 'voice',
    planned: 'audio',
    placedAs: 'audio',
    outcome: 'completed',
    downgraded: false,
    afterKillSwitch: false,
    startedAtMs: 0,
    invitedAtMs: 10,
    setupMs: 150,
    talkSeconds: 30,
    clientSentBytes: 120_000,
    clientReceivedBytes: 115_000,
    legs: [audioLeg('caller', 0.02, 4.1), audioLeg('callee', 0.03, 4.0)],
    serverUpBytes: 120_000,
    serverDownBytes: 120_000,
    ...over,
  };
}

function observations(calls: CallRecord[], over: Partial<ExperimentObservations> = {}): ExperimentObservations {
  return {
    cohorts: ['video', 'video', 'voice', 'voice'],
    calls,
    clientBytes: {
      sent: { video: [1000, 250_000, 250_000], voice: [0, 5000, 5000] },
      received: { video: [0, 240_000, 240_000], voice: [0, 4900, 4900] },
    },
    qualityPushes: [],
    cpuSamples: [],
    unavailable: [],
    ...over,
  };
}

const head = {
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 60_000,
  gatewayUrls: ['http://127.0.0.1:3000'],
  options: {},
  network: { ...NETWORK_PROFILES.good, profile: 'good' },
  seed: 1,
  users: 4,
  friendships: 4,
};

const videoCall = (over: Partial<CallRecord> = {}) =>
  call({
    cohort: 'video',
    planned: 'video',
    placedAs: 'video',
    clientSentBytes: 1_900_000,
    clientReceivedBytes: 1_850_000,
    serverUpBytes: 1_900_000,
    serverDownBytes: 1_900_000,
    legs: [audioLeg('caller', 0.01, 4.2), videoLeg('caller'), audioLeg('callee', 0.01, 4.2), videoLeg('callee')],
    ...over,
  });

describe('buildExperimentReport', () => {
  it('summarises each cohort and passes when the physics hold', () => {
    const r = buildExperimentReport(
      head,
      observations([videoCall({ index: 0 }), videoCall({ index: 1, setupMs: 300 }), call({ index: 2 })]),
    );
    const [video, voice] = r.cohorts;
    expect(video).toMatchObject({
      cohort: 'video',
      users: 2,
      calls: { attempted: 2, completed: 2, video: 2, voice: 0, refused: 0, failed: 0 },
    });
    expect(voice).toMatchObject({ cohort: 'voice', users: 2, calls: { attempted: 1, completed: 1, voice: 1 } });
    expect(video.setupMs.values).toEqual([150, 300]);
    expect(video.mos.values).toEqual([4.2, 4.2, 4.2, 4.2]);
    expect(video.video).toMatchObject({ legs: 4, framesSent: 600, framesIntact: 560, intactRatio: 0.9333 });
    // (1.9 MB + 1.85 MB) per 30 s call.
    expect(video.clientBytesPerCallMinute).toBe(7_500_000);
    expect(voice.clientBytesPerCallMinute).toBe(470_000);
    expect(video.serverBytesPerCallMinute).toBe(7_600_000);
    expect(r.bitrate[1].clientSentKbps).toEqual({ video: 2000, voice: 40 });
    expect(r.findings.filter((f) => f.severity === 'fail')).toEqual([]);
    expect(r.passed).toBe(true);
  });

  it('finds a video cohort that moves less than 5x the voice bytes, failed calls, and unheard tones', () => {
    const small = videoCall({ clientSentBytes: 300_000, clientReceivedBytes: 300_000, serverUpBytes: 300_000 });
    const deaf = call({ index: 3, legs: [{ ...audioLeg('caller', 0.5, 2), toneHeard: false }] });
    const r = buildExperimentReport(
      head,
      observations([small, call({ index: 2 }), deaf, call({ index: 4, outcome: 'failed', error: 'boom' })]),
    );
    const texts = r.findings.filter((f) => f.severity === 'fail').map((f) => f.text);
    expect(texts).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^video cohort moves \d\.\dx the voice cohort's bytes per call-minute, expected at least 5x/),
        'voice cohort: 1 of 3 calls failed',
        "voice cohort: 1 of 3 audio legs did not carry the other side's tone",
      ]),
    );
    expect(r.passed).toBe(false);
  });

  it('reports the two witnesses disagreeing on bytes as a finding', () => {
    const r = buildExperimentReport(head, observations([videoCall({ serverUpBytes: 900_000 }), call({ index: 2 })]));
    expect(r.findings).toContainEqual({
      severity: 'fail',
      text: expect.stringMatching(/^video cohort: the SFU received .* per call-minute, the clients sent .* \(53% apart\)/),
    });
  });

  it('judges the kill switch: producers closed late or never, audio stopped, video still placed after', () => {
    const kill: KillSwitchRecord = {
      atMs: 20_000,
      at: '2026-01-01T00:00:20.000Z',
      liveVideoCalls: 2,
      videoProducers: 4,
      closedWithinSecond: 2,
      closedLate: 1,
      notClosed: 1,
      closeLatencyMs: { count: 3, mean: 900, p50: 100, p95: 2500, p99: 2500, max: 2500 },
      producers: [],
      audioContinued: 1,
      audioChecked: 2,
      laterVideoPairCalls: 2,
      laterRefused: 1,
      laterAsVoice: 1,
      laterAsVideo: 1,
    };
    const r = buildExperimentReport(head, observations([videoCall(), call({ index: 2 })], { killSwitch: kill }));
    const texts = r.findings.map((f) => f.text);
    expect(texts).toContain('kill switch: 1 video producers never closed and 1 closed later than a second (of 4)');
    expect(texts).toContain('kill switch: audio stopped in 1 of 2 live video calls');
    expect(texts).toContain('kill switch: 1 video calls were still placed after the flag went off');
    expect(r.killSwitch).toBe(kill);
  });

  it('puts the server report beside the clients and reports where they disagree', () => {
    const report: FlagReportDto = {
      key: 'video_call',
      since: null,
      variants: [
        { value: true, users: 2, calls: { attempted: 2, refused: 0, answered: 1, durationSecondsMean: 30, setupMsP50: 40, quality: [] } },
        { value: false, users: 2, calls: { attempted: 1, refused: 0, answered: 1, durationSecondsMean: 30, setupMsP50: 40, quality: [] } },
      ],
    };
    const r = buildExperimentReport(head, observations([videoCall(), videoCall({ index: 1 }), call({ index: 2 })], { flagReport: report }));
    expect(r.findings).toContainEqual({ severity: 'fail', text: 'flag-on variant: the server counts 1 answered calls, the clients 2' });
    expect(r.findings.filter((f) => f.severity === 'fail')).toHaveLength(1);
    expect(r.server.flagReport).toBe(report);
  });

  it('notes video that could show under half its frames, without failing the run', () => {
    const broken = { ...videoLeg('caller'), framesIntact: 60, framesDecodable: 30, keyFramesRequested: 12 };
    const r = buildExperimentReport(head, observations([videoCall({ legs: [audioLeg('caller', 0.2, 3.5), broken] }), call({ index: 2 })]));
    expect(r.findings).toContainEqual({
      severity: 'note',
      text: 'video cohort video: 20% of the frames sent could be shown (40% arrived whole, 12 key frames asked for): most key frames lose a packet on the way (to loss or a full queue), and nothing resends them',
    });
    expect(r.passed).toBe(true);
  });

  it('notes what could not be measured without failing the run', () => {
    const r = buildExperimentReport(head, observations([call({})], { unavailable: ['SFU CPU'] }));
    expect(r.findings).toContainEqual({ severity: 'note', text: 'not measured: SFU CPU' });
    expect(r.passed).toBe(true);
  });
});

describe('tallyByServerVariant', () => {
  it('files invites under the caller value at that moment; a downgraded call is a refused and an answered attempt', () => {
    const calls = [
      call({ cohort: 'video', invitedAtMs: 1000 }),
      call({ cohort: 'video', invitedAtMs: 9000 }),
      call({ cohort: 'video', invitedAtMs: 9000, downgraded: true }),
      call({ cohort: 'voice', invitedAtMs: 1000, outcome: 'failed' }),
      call({ cohort: 'video', invitedAtMs: 5200 }),
    ];
    expect(tallyByServerVariant(calls, 5000)).toEqual({
      on: { attempted: 1, refused: 0, answered: 1, ambiguous: 0 },
      off: { attempted: 5, refused: 1, answered: 3, ambiguous: 1 },
    });
    expect(tallyByServerVariant(calls, undefined).on).toMatchObject({ attempted: 3, answered: 3 });
  });
});

describe('SFU CPU readings', () => {
  it("reads the worker CPU counter and the media nodes' gauge, with or without a metrics prefix", () => {
    const text = [
      '# HELP smb_media_node_worker_cpu share of a core',
      'smb_media_node_worker_cpu{node="a"} 0.25',
      'media_node_worker_cpu{node="b"} 0.5',
      'smb_media_worker_cpu_seconds_total 12.5',
    ].join('\n');
    expect(parseNodeWorkerCpuGauge(text)).toBe(0.75);
    expect(parseWorkerCpuMetric(text)).toBe(12.5);
    expect(parseWorkerCpuMetric('socket_connections 3')).toBeUndefined();
  });

  it('integrates a rate into CPU seconds', () => {
    const i = new GaugeIntegral();
    expect(i.add(0.5, 0)).toBe(0);
    expect(i.add(0.5, 2000)).toBe(1);
    expect(i.add(0.25, 6000)).toBe(2);
  });
});

describe('cpuPerCallSecond', () => {
  it('shares each interval among the groups by packets and divides by their call-seconds', () => {
    const samples = [
      { atMs: 0, cpuSeconds: 0, active: { video: 1, voice: 1 }, packets: { video: 0, voice: 0 } },
      { atMs: 1000, cpuSeconds: 0.1, active: { video: 1, voice: 1 }, packets: { video: 900, voice: 100 } },
      { atMs: 2000, cpuSeconds: 0.2, active: { video: 1, voice: 1 }, packets: { video: 1800, voice: 200 } },
    ];
    const r = cpuPerCallSecond(samples, ['video', 'voice']);
    expect(r.overall).toBeCloseTo(0.05);
    expect(r.byGroup.video).toBeCloseTo(0.09);
    expect(r.byGroup.voice).toBeCloseTo(0.01);
    expect(cpuPerCallSecond([], ['video']).byGroup.video).toBeNull();
  });
});

describe('ClipSender', () => {
  const clip: VideoClip = loadExperimentClip();

  it('plays the experiment clip: VGA VP8 about a megabit a second, key frames every second', () => {
    expect(clip).toMatchObject({ width: 640, height: 480, fps: 15 });
    expect(clip.keyFrameIndices).toEqual([0, 15]);
  });

  it('sends frames in order and skips to the next key frame when asked', () => {
    const sender = new ClipSender(clip);
    const first = sender.nextFrame();
    expect(parseVp8Descriptor(first[0])).toMatchObject({ startOfPartition: true });
    expect(Buffer.concat(first.map((p) => p.subarray(4))).equals(clip.frames[0])).toBe(true);
    sender.nextFrame();
    sender.requestKeyFrame();
    const next = sender.nextFrame();
    expect(isVp8KeyFrame(Buffer.concat(next.map((p) => p.subarray(4))))).toBe(true);
    expect(sender.keyFramesRequested).toBe(1);
    expect(Buffer.concat(clipFramePayloads(clip, 31).map((p) => p.subarray(4))).equals(clip.frames[1])).toBe(true);
  });
});

describe('renderExperimentHtml', () => {
  const kill: KillSwitchRecord = {
    atMs: 20_000,
    at: '2026-01-01T00:00:20.000Z',
    liveVideoCalls: 1,
    videoProducers: 2,
    closedWithinSecond: 2,
    closedLate: 0,
    notClosed: 0,
    closeLatencyMs: { count: 2, mean: 40, p50: 40, p95: 40, p99: 40, max: 40 },
    producers: [],
    audioContinued: 1,
    audioChecked: 1,
    laterVideoPairCalls: 0,
    laterRefused: 0,
    laterAsVoice: 0,
    laterAsVideo: 0,
  };
  const samples = [
    { atMs: 0, cpuSeconds: 0, active: { video: 1, voice: 1 }, packets: { video: 0, voice: 0 } },
    { atMs: 1000, cpuSeconds: 0.1, active: { video: 1, voice: 1 }, packets: { video: 900, voice: 100 } },
  ];
  const r = buildExperimentReport(
    head,
    observations([videoCall(), call({ index: 2, error: '<b>' })], { killSwitch: kill, cpuSamples: samples, cpuSource: 'local-workers' }),
  );
  const html = renderExperimentHtml(r);

  it('holds every chart as inline SVG, the kill-switch marker on the bitrate chart, and the findings', () => {
    for (const id of ['setup', 'bitrate', 'loss', 'mos', 'cpu', 'bytes'])
      expect(html).toMatch(new RegExp(`<svg id="chart-${id}"[^>]*>[\\s\\S]*?<(rect|polyline)`));
    const bitrate = html.slice(html.indexOf('<svg id="chart-bitrate"'), html.indexOf('</svg>', html.indexOf('<svg id="chart-bitrate"')));
    expect(bitrate).toContain('<g id="kill-switch-marker">');
    expect(bitrate).toContain('kill switch');
    expect(html).toContain('Findings');
    expect(html).toContain('kill switch at 20.0 s');
  });

  it('is self-contained: no scripts, no external resources', () => {
    expect(html).not.toMatch(/<script|<link|@import|url\(|src="http/i);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('has no kill-switch marker without a kill switch, and escapes text', () => {
    const plain = renderExperimentHtml({ ...r, killSwitch: undefined, findings: [{ severity: 'fail', text: '<img onerror=x>' }] });
    expect(plain).not.toContain('kill-switch-marker');
    expect(plain).toContain('&lt;img onerror=x&gt;');
    expect(plain).not.toContain('<img');
  });
});
