import { costsFromResults } from '../../bench/capacity/measured-costs';
import {
  DEFAULT_ASSUMPTIONS,
  MeasuredCosts,
  planCapacity,
  postgresCores,
  predictedGatewayCpuSeconds,
  predictedPostgresCpuSeconds,
  relativeError,
  renderPlan,
} from '../../bench/capacity/capacity-model';
import { parseCapacityArgs, UsageError } from '../../bench/capacity/capacity-cli';

const costs: MeasuredCosts = {
  source: 'spec',
  gatewayCpuUsPerDm: 100,
  clusterCpuUsPerDm: 150,
  gatewayCpuMsPerCall: 10,
  workerCpuUsPerVoiceCallSecond: 1_000,
  workerCpuUsPerVideoCallSecond: 10_000,
  rssKiBPerSocket: 10,
  postgresCpuUsPerDm: 50,
  postgresCpuMsPerCall: 2,
};

describe('planCapacity', () => {
  it('turns a day of use into peak rates with the peak factor and Little’s law', () => {
    const plan = planCapacity({ users: 86_400, dmsPerUserHour: 1, callsPerUserDay: 1, callMinutes: 2, videoShare: 0.25 }, costs);
    // 86,400 users × 1 DM/h = 24 DMs/s on average, ×3 at the peak.
    expect(plan.peak.dmsPerSecond).toBe(72);
    // 86,400 calls a day = 1/s on average, ×3 at the peak; each lasts 120 s.
    expect(plan.peak.callsStartedPerSecond).toBe(3);
    expect(plan.peak.concurrentCalls).toBe(360);
    expect(plan.peak.concurrentVideoCalls).toBe(90);
    expect(plan.peak.onlineSockets).toBe(8_640);
  });

  it('sizes gateways by CPU at the cluster’s cost per DM once one process is not enough', () => {
    // 100,000 DMs/s at the peak: 10 cores at one process's cost, 15 at the cluster's.
    const fewOnline = { ...DEFAULT_ASSUMPTIONS, onlineShare: 0.001 };
    const plan = planCapacity(
      { users: 120_000_000, dmsPerUserHour: 1, callsPerUserDay: 0, callMinutes: 0, videoShare: 0 },
      costs,
      fewOnline,
    );
    expect(plan.peak.dmsPerSecond).toBe(100_000);
    expect(plan.gatewayCores).toBe(15);
    expect(plan.gatewayProcesses).toBe(Math.ceil(15 / DEFAULT_ASSUMPTIONS.cpuHeadroom));
    expect(plan.gatewayLimitedBy).toBe('cpu');
  });

  it('sizes gateways by socket memory when idle sockets dominate', () => {
    // 10M users, 10% online = 1M sockets × 10 KiB ≈ 9,766 MiB: 20 processes of 512 MiB.
    const plan = planCapacity({ users: 10_000_000, dmsPerUserHour: 0, callsPerUserDay: 0, callMinutes: 0, videoShare: 0 }, costs);
    expect(plan.gatewayProcesses).toBe(20);
    expect(plan.gatewayLimitedBy).toBe('memory');
    expect(plan.mediaCores).toBe(0);
  });

  it('weighs video calls by their own worker cost', () => {
    const load = { users: 86_400, dmsPerUserHour: 0, callsPerUserDay: 10, callMinutes: 1, videoShare: 0 };
    const voice = planCapacity(load, costs);
    const video = planCapacity({ ...load, videoShare: 1 }, costs);
    // 30 calls/s × 60 s = 1,800 calls at once: 1.8 cores of voice, 18 of video, at 70% headroom.
    expect(voice.mediaCores).toBe(Math.ceil(1.8 / 0.7));
    expect(video.mediaCores).toBe(Math.ceil(18 / 0.7));
  });

  it("sizes PostgreSQL's CPU by its cost per DM and per call", () => {
    // 100,000 DMs/s × 50 µs = 5 cores, and 100 calls/s × 2 ms = 0.2.
    const plan = planCapacity({ users: 120_000_000, dmsPerUserHour: 1, callsPerUserDay: 0.024, callMinutes: 1, videoShare: 0 }, costs);
    expect(plan.peak.callsStartedPerSecond).toBe(100);
    expect(plan.postgresCores).toBe(5.2);
    expect(postgresCores(0, 0, costs)).toBe(0);
    expect(renderPlan(plan)).toContain('PostgreSQL CPU      5.2 cores');
  });

  it('counts database writes and leaves Redis out for one process', () => {
    const small = planCapacity({ users: 3_600, dmsPerUserHour: 1, callsPerUserDay: 0, callMinutes: 0, videoShare: 0 }, costs);
    expect(small.postgresWritesPerSecond).toBe(3);
    expect(small.gatewayProcesses).toBe(1);
    expect(small.redisOpsPerSecond).toBe(0);
  });
});

describe('checking the model against a run', () => {
  it('predicts CPU seconds from counts and measures the error', () => {
    expect(predictedGatewayCpuSeconds({ dms: 10_000, calls: 100, processes: 1 }, costs)).toBeCloseTo(2, 6);
    expect(predictedGatewayCpuSeconds({ dms: 10_000, calls: 0, processes: 2 }, costs)).toBeCloseTo(1.5, 6);
    // 10,000 DMs × 50 µs and 100 calls × 2 ms of PostgreSQL's CPU.
    expect(predictedPostgresCpuSeconds({ dms: 10_000, calls: 100 }, costs)).toBeCloseTo(0.7, 6);
    expect(relativeError(1.2, 1)).toBeCloseTo(0.2, 6);
    expect(relativeError(0, 0)).toBe(0);
  });
});

describe('costsFromResults', () => {
  it('takes what a run measured and the baseline for the rest', () => {
    const got = costsFromResults(
      {
        messages: { persisted: { cpuUsPerMessage: 80, machine: { servicesUsPerOp: { postgres: 61.5 } } } },
        callSetup: { machine: { servicesUsPerOp: { 'redis-server': 100 } } },
        concurrentCalls: {
          gateway: {
            steps: [
              { passed: true, workerCpuUsPerCallSecond: 900 },
              { passed: false, workerCpuUsPerCallSecond: 2_000 },
            ],
          },
        },
      },
      costs,
      'run',
    );
    // The call set-up loop did not read PostgreSQL: the baseline's figure stays.
    expect(got).toEqual({ ...costs, source: 'run', gatewayCpuUsPerDm: 80, workerCpuUsPerVoiceCallSecond: 900, postgresCpuUsPerDm: 61.5 });
    const calls = costsFromResults({ callSetup: { machine: { servicesUsPerOp: { postgres: 2_100 } } } }, costs, 'run');
    expect(calls.postgresCpuMsPerCall).toBe(2.1);
  });
});

describe('parseCapacityArgs', () => {
  it('reads a load with defaults', () => {
    expect(parseCapacityArgs(['--users', '10000', '--video-share', '0.2'])).toMatchObject({
      load: { users: 10_000, dmsPerUserHour: 2, callsPerUserDay: 1, callMinutes: 5, videoShare: 0.2 },
    });
  });

  it.each([
    [['--users', '0'], /--users/],
    [['--users', '10', '--video-share', '1.5'], /--video-share/],
    [['--users', 'ten'], /--users/],
    [['--dms-per-user-hour', '3'], /--users is required/],
    [['--users', '10', '--bogus'], /bogus/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCapacityArgs(argv)).toThrow(UsageError);
    expect(() => parseCapacityArgs(argv)).toThrow(message);
  });
});
