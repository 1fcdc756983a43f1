import { Writable } from 'node:stream';
import { UsageError } from '../sim-cli';
import { ExperimentCliOptions, isExperimentCommand, parseExperimentCli, parseTalkRange } from './experiment-cli';
import { EXIT, runExperimentCommand } from './experiment-command';
import { NETWORK_PROFILES } from '@app/client';

const parse = (...args: string[]) => parseExperimentCli(['--experiment', 'video', ...args], {}) as ExperimentCliOptions;
const usage = (...args: string[]) => {
  try {
    parse(...args);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
};

describe('parseExperimentCli', () => {
  it('has defaults for everything but the experiment', () => {
    expect(parse()).toMatchObject({
      experiment: 'video',
      urls: [],
      users: 10,
      friendsPerUser: 4,
      videoShare: 0.5,
      durationMs: 60_000,
      concurrentCalls: 2,
      callRate: 5,
      minTalkMs: 3000,
      maxTalkMs: 20_000,
      networkProfile: 'good',
      network: NETWORK_PROFILES.good,
      killSwitchAtMs: undefined,
      seed: 1,
      qualityIntervalMs: 5000,
      setup: 'join',
      out: 'experiment-report.json',
      html: undefined,
    });
  });

  it('reads every flag', () => {
    const o = parse(
      '--url',
      'http://127.0.0.1:3001',
      '--admin-token',
      'adm',
      '--metrics-token',
      'met',
      '--users',
      '8',
      '--friends',
      '3',
      '--video-share',
      '0.25',
      '--duration',
      '5m',
      '--concurrent-calls',
      '3',
      '--call-rate',
      '2',
      '--call-seconds',
      '2-9',
      '--network',
      'lossy',
      '--loss',
      '3%',
      '--burst-loss',
      '0.02',
      '--burst-length',
      '5',
      '--delay',
      '70ms',
      '--jitter',
      '12',
      '--kill-switch-at',
      '2m',
      '--seed',
      '42',
      '--rtp-ip',
      '127.0.0.1',
      '--quality-interval',
      '1000',
      '--setup',
      'steps',
      '--out',
      'r.json',
      '--html',
      'r.html',
      '--no-progress',
    );
    expect(o).toMatchObject({
      urls: ['http://127.0.0.1:3001'],
      adminToken: 'adm',
      metricsToken: 'met',
      users: 8,
      friendsPerUser: 3,
      videoShare: 0.25,
      durationMs: 300_000,
      concurrentCalls: 3,
      callRate: 2,
      minTalkMs: 2000,
      maxTalkMs: 9000,
      networkProfile: 'lossy',
      network: { lossRate: 0.03, burst: { pGoodToBad: 0.02, pBadToGood: 0.2 }, delayMs: 70, jitterMs: 12 },
      killSwitchAtMs: 120_000,
      seed: 42,
      rtpIp: '127.0.0.1',
      qualityIntervalMs: 1000,
      setup: 'steps',
      out: 'r.json',
      html: 'r.html',
      progress: false,
    });
  });

  it('starts from a profile and lets explicit values override it', () => {
    expect(parse('--network', 'congested').network).toEqual(NETWORK_PROFILES.congested);
    expect(parse('--network', '3g', '--loss', '0').network).toEqual({ ...NETWORK_PROFILES['3g'], lossRate: 0 });
    expect(parse('--bandwidth', '2mbps').network).toEqual({ ...NETWORK_PROFILES.good, bandwidthKbps: 2000 });
    // 0: no cap, even where the profile has one.
    expect(parse('--network', 'congested', '--bandwidth', '0').network).toEqual({ delayMs: 40, jitterMs: 5 });
    expect(parse('--network', 'bursty', '--burst-length', '10').network.burst).toEqual({ pGoodToBad: 0.02, pBadToGood: 0.1 });
    expect(parse('--network', 'bursty', '--burst-loss', '0').network.burst).toBeUndefined();
  });

  it.each([
    [['--loss', '1.5'], /^--loss must be a probability from 0 to 1, got 1.5/],
    [['--loss', '-0.1'], /^--loss must be a probability/],
    [['--loss', 'lots'], /^--loss must be a probability such as 0.05 or 5%/],
    [['--burst-loss', '2'], /^--burst-loss must be a probability/],
    [['--burst-length', '0.5'], /^--burst-length must be a mean burst length/],
    [['--bandwidth', '-3'], /^--bandwidth must be a bandwidth from 0/],
    [['--bandwidth', '3 furlongs'], /^--bandwidth must be kbit\/s/],
    [['--delay', '-5'], /^--delay must be a delay/],
    [['--jitter', 'x'], /^--jitter must be a number of ms/],
    [['--network', 'satellite'], /^--network must be one of good, 3g, lossy, bursty, congested/],
    [['--kill-switch-at', '2m', '--duration', '1m'], /^--kill-switch-at must fall inside the run/],
    [['--kill-switch-at', 'soon'], /^--kill-switch-at must be a time/],
    [['--call-seconds', '9-2'], /^--call-seconds must be a range/],
    [['--video-share', '1.2'], /^--video-share must be a number from 0 to 1/],
    [['--users', '1'], /^--users must be an integer from 2/],
    [['--concurrent-calls', '9', '--users', '10'], /^--concurrent-calls must be an integer from 1 to 5/],
    [['--duration', '10y'], /^--duration must be a time/],
    [['--rtp-ip', 'here'], /^--rtp-ip must be an IP address/],
    [['--url', 'nope'], /^--url must be a URL/],
    [['--setup', 'fast'], /^--setup must be join or steps, got "fast"/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ])('refuses %j naming the flag', (args, message) => {
    expect(usage(...(args as string[]))).toMatch(message);
  });

  it('refuses an experiment it does not know', () => {
    expect(() => parseExperimentCli(['--experiment', 'audio'], {})).toThrow('--experiment must be "video", got "audio"');
  });

  it('reads the tokens and the quality interval from the environment', () => {
    const o = parseExperimentCli(['--experiment', 'video'], {
      ADMIN_TOKEN: 'a',
      METRICS_TOKEN: 'm',
      CALL_QUALITY_INTERVAL_MS: '250',
    }) as ExperimentCliOptions;
    expect(o).toMatchObject({ adminToken: 'a', metricsToken: 'm', qualityIntervalMs: 250 });
  });

  it('takes a talk range or a single length', () => {
    expect(parseTalkRange('3-20')).toEqual([3, 20]);
    expect(parseTalkRange('5')).toEqual([5, 5]);
    expect(parseTalkRange('1.5-2.5s')).toEqual([1.5, 2.5]);
  });

  it('tells an experiment command from a plain simulation', () => {
    expect(isExperimentCommand(['--experiment', 'video'])).toBe(true);
    expect(isExperimentCommand(['--experiment=video'])).toBe(true);
    expect(isExperimentCommand(['--users', '5'])).toBe(false);
  });
});

describe('runExperimentCommand', () => {
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) });
    return { stream, text: () => chunks.join('') };
  };

  it('exits 2 with the flag named and the usage on an impossible value', async () => {
    const out = sink();
    const err = sink();
    const code = await runExperimentCommand(['--experiment', 'video', '--bandwidth', '-3'], { stdout: out.stream, stderr: err.stream });
    expect(code).toBe(EXIT.usage);
    expect(err.text()).toMatch(/^--bandwidth must be a bandwidth from 0 \(unlimited\)/);
    expect(err.text()).toContain('Usage: npm run sim -- --experiment video');
  });

  it('exits 2 when --url is given without an admin token', async () => {
    const err = sink();
    const saved = process.env.ADMIN_TOKEN;
    delete process.env.ADMIN_TOKEN;
    try {
      const code = await runExperimentCommand(['--experiment', 'video', '--url', 'http://127.0.0.1:9'], {
        stdout: sink().stream,
        stderr: err.stream,
      });
      expect(code).toBe(EXIT.usage);
      expect(err.text()).toContain('--admin-token');
    } finally {
      if (saved !== undefined) process.env.ADMIN_TOKEN = saved;
    }
  });

  it('prints the usage and exits 0 on --help', async () => {
    const out = sink();
    expect(await runExperimentCommand(['--experiment', 'video', '--help'], { stdout: out.stream, stderr: sink().stream })).toBe(
      EXIT.passed,
    );
    expect(out.text()).toContain('--kill-switch-at');
  });
});
