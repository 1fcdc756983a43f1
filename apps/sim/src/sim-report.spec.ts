import { formatReport, judge, percentile, summarize } from './sim-report';

describe('sim report', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
    expect(summarize([3, 1, 2])).toEqual({ count: 3, mean: 2, p50: 2, p95: 3, p99: 3, max: 3 });
  });

  it('fails a run that lost a message or a tone check', () => {
    const base = {
      gatewayUrl: 'x',
      gatewayUrls: ['x'],
      usersPerGateway: [2],
      startedAt: '',
      durationMs: 0,
      options: {},
      users: 2,
      friendships: 1,
      errors: [],
      messages: {
        sent: 2,
        failed: 0,
        delivered: 2,
        deliveredViaSync: 0,
        duplicated: 0,
        lost: 0,
        latencyMs: summarize([1, 2]),
      },
      calls: {
        placed: 1,
        connected: 1,
        failed: 0,
        peakConcurrentCalls: 1,
        endedByReason: { hangup: 1 },
        restarts: 0,
        callsRestarted: 0,
        toneRoundsReplayed: 0,
        setupMs: summarize([5]),
        mediaSetupMs: summarize([7]),
        audio: { packetsSent: 10, packetsReceived: 10, toneChecks: 2, tonePassed: 2, tonePassRate: 1 },
      },
    };
    expect(judge(base)).toBe(true);
    expect(judge({ ...base, messages: { ...base.messages, delivered: 1, lost: 1 } })).toBe(false);
    expect(judge({ ...base, calls: { ...base.calls, audio: { ...base.calls.audio, tonePassed: 1 } } })).toBe(false);

    // One gateway reads as before; several are each named with their users.
    expect(formatReport({ ...base, passed: true }).split('\n')[0]).toMatch(/^Simulation against x: 2 users/);
    const two = formatReport({ ...base, gatewayUrls: ['http://a:3001', 'http://b:3002'], usersPerGateway: [1, 1], passed: true });
    expect(two.split('\n')[0]).toMatch(/^Simulation against 2 gateways \(http:\/\/a:3001: 1 users, http:\/\/b:3002: 1 users\): 2 users/);
  });
});
