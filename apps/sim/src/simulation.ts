import { performance } from 'node:perf_hooks';
import { AdminClient, RtpAddress, rtpAddressFor, SocialClient } from '@app/client';
import { runCallChurn, runCallTraffic } from './call-traffic';
import { runMessageTraffic } from './message-traffic';
import { ProcessUsageMonitor } from './process-usage';
import { CALL_SETUP_EVENTS, EventTimes, MEDIA_SETUP_EVENTS, meanEventMs, readClusterEventTimes, serverMsFor } from './server-timing';
import { createPopulation, disconnectAll, Population } from './sim-population';
import { CallFindings, judge, SetupSplit, SimReport, SimTiming } from './sim-report';
import { SeededRandom } from './seeded-random';
import { runVideoExperiment } from './video-experiment';

export interface SimOptions {
  /** The gateway to drive, when there is one (`urls` takes precedence). */
  url?: string;
  /**
   * Several gateways of one service (shared database and Redis): user i
   * logs in and connects to urls[i % n], so ring neighbours, who are
   * friends, sit on different gateways and calls and messages cross them.
   */
  urls?: string[];
  /** Needed only for the video flag experiment. */
  adminToken?: string;
  users: number;
  friendsPerUser: number;
  messagesPerUser: number;
  /** dm:send per second across all users. */
  messageRate: number;
  calls: number;
  callSeconds: number;
  concurrentCalls: number;
  /** call:invite per second at most, across all callers. */
  callRate: number;
  /** Share of users (0..1) to switch video_call on for; 0 with videoCalls 0 skips the experiment. */
  videoShare: number;
  videoCalls: number;
  settleMs: number;
  seed: number;
  /**
   * Churn instead of fixed counts: for this long, calls keep starting and
   * ending (`concurrentCalls` at a time) while messages flow at
   * `messageRate`; `calls` and `messagesPerUser` are then ignored.
   */
  durationMs?: number;
  /** Bind RTP sockets to this address and announce it (default: every interface, announcing the address the gateway is reached from). */
  rtpIp?: string;
  /** The gateway runs in this process (its usage is then part of the simulator's). */
  embeddedGateway?: boolean;
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'url' | 'urls'> = {
  users: 10,
  friendsPerUser: 8,
  messagesPerUser: 5,
  messageRate: 20,
  calls: 5,
  callSeconds: 2,
  concurrentCalls: 5,
  callRate: 10,
  videoShare: 0.5,
  videoCalls: 0,
  settleMs: 10_000,
  seed: 1,
};

export interface SimProgress {
  phase: 'users' | 'messages' | 'calls' | 'churn' | 'video' | 'done';
  done: number;
  total: number;
}

/** The gateways a run drives: `urls` when given, else `url`. */
export function gatewayUrlsOf(options: Pick<SimOptions, 'url' | 'urls'>): string[] {
  if (options.urls && options.urls.length > 0) return [...options.urls];
  if (options.url) return [options.url];
  throw new Error('the simulation needs a gateway: url or urls');
}

/**
 * The simulator's core, usable from the CLI and from tests: simulated users
 * befriend each other, exchange messages, place voice calls with real Opus
 * tones, and optionally run the video flag experiment. Talks to the gateway
 * only through the SDK (and reads its /metrics for the set-up split).
 */
export async function runSimulation(options: SimOptions, onProgress: (p: SimProgress) => void = () => undefined): Promise<SimReport> {
  const startedAt = new Date();
  const began = performance.now();
  const usage = new ProcessUsageMonitor();
  const random = new SeededRandom(options.seed);
  const errors: string[] = [];
  const runVideo = options.videoCalls > 0;
  if (runVideo && !options.adminToken) throw new Error('the video flag experiment needs the admin token (--admin-token)');
  const urls = gatewayUrlsOf(options);
  const rtpAddressOf = await rtpAddressesFor(urls, options.rtpIp);
  const churn = options.durationMs !== undefined;
  const durationSeconds = Math.ceil((options.durationMs ?? 0) / 1000);

  const total = churn
    ? options.users + durationSeconds + (runVideo ? options.videoCalls : 0)
    : options.users + options.users * options.messagesPerUser + options.calls + (runVideo ? options.videoCalls : 0);
  let done = 0;
  let phase: SimProgress['phase'] = 'users';
  const tick = () => onProgress({ phase, done: ++done, total });
  onProgress({ phase, done, total });

  let population: Population | undefined;
  try {
    population = await createPopulation(urls, options.users, options.friendsPerUser);
    done += options.users;
    let messages;
    let calls: CallFindings;
    let timesBefore: EventTimes | undefined;
    let timesAfter: EventTimes | undefined;
    if (churn) {
      phase = 'churn';
      onProgress({ phase, done, total });
      const churnStart = performance.now();
      const untilMs = churnStart + options.durationMs!;
      // Progress in seconds of the run; the traffic itself reports nothing.
      const clock = setInterval(() => {
        const elapsed = Math.min(durationSeconds, Math.floor((performance.now() - churnStart) / 1000));
        onProgress({ phase, done: options.users + elapsed, total });
      }, 1000);
      try {
        timesBefore = await readClusterEventTimes(urls);
        [messages, calls] = await Promise.all([
          runMessageTraffic(
            population,
            random,
            { messagesPerUser: 0, ratePerSecond: options.messageRate, settleMs: options.settleMs, untilMs },
            () => undefined,
            errors,
          ),
          runCallChurn(
            population,
            random,
            {
              callSeconds: options.callSeconds,
              concurrentCalls: options.concurrentCalls,
              callRate: options.callRate,
              untilMs,
              rtpAddressOf,
            },
            () => undefined,
            errors,
          ),
        ]);
        timesAfter = await readClusterEventTimes(urls);
      } finally {
        clearInterval(clock);
      }
      done = options.users + durationSeconds;
    } else {
      phase = 'messages';
      onProgress({ phase, done, total });
      messages = await runMessageTraffic(
        population,
        random,
        { messagesPerUser: options.messagesPerUser, ratePerSecond: options.messageRate, settleMs: options.settleMs },
        tick,
        errors,
      );
      phase = 'calls';
      timesBefore = await readClusterEventTimes(urls);
      calls = await runCallTraffic(
        population,
        random,
        {
          calls: options.calls,
          callSeconds: options.callSeconds,
          concurrentCalls: options.concurrentCalls,
          callRate: options.callRate,
          rtpAddressOf,
        },
        tick,
        errors,
      );
      timesAfter = await readClusterEventTimes(urls);
    }
    let videoExperiment;
    if (runVideo) {
      phase = 'video';
      videoExperiment = await runVideoExperiment(
        population,
        // Flags live in the shared database: any gateway's admin API sets them for all.
        new AdminClient(urls[0], options.adminToken!),
        random,
        { share: options.videoShare, calls: options.videoCalls, concurrentCalls: options.concurrentCalls },
        tick,
        errors,
      );
    }
    phase = 'done';
    onProgress({ phase, done: total, total });
    const report: Omit<SimReport, 'passed'> = {
      gatewayUrl: urls[0],
      gatewayUrls: urls,
      usersPerGateway: urls.map((_, g) => population!.gatewayOf.filter((of) => of === g).length),
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - began),
      options: { ...options, adminToken: options.adminToken ? '(set)' : undefined },
      users: population.clients.length,
      friendships: population.friendships.length,
      messages,
      calls,
      videoExperiment,
      timing: timesBefore && timesAfter ? setupTiming(calls, meanEventMs(timesBefore, timesAfter)) : undefined,
      errors,
    };
    report.simulator = { ...usage.stop(), embeddedGateway: options.embeddedGateway ?? false };
    return { ...report, passed: judge(report) };
  } finally {
    usage.stop();
    disconnectAll(population);
  }
}

/**
 * The RTP address of each gateway's users. Resolved per gateway: the
 * plain-RTP policy accepts the address the user's own gateway sees its
 * connection come from, and gateways on different hosts or interfaces are
 * reached from different local addresses.
 */
async function rtpAddressesFor(urls: string[], rtpIp: string | undefined): Promise<(client: SocialClient) => RtpAddress | undefined> {
  const addresses = await Promise.all(urls.map((url) => rtpAddressFor(url, rtpIp)));
  const byUrl = new Map(urls.map((url, g) => [url, addresses[g]]));
  return (client) => byUrl.get(client.baseUrl);
}

function setupTiming(calls: CallFindings, serverEventMs: Record<string, number>): SimTiming {
  const split = (mean: number | null, serverMs: number | null): SetupSplit => ({
    meanMs: mean,
    serverMs,
    elsewhereMs: mean === null || serverMs === null ? null : Math.round(Math.max(0, mean - serverMs) * 10) / 10,
  });
  return {
    callSetup: split(calls.setupMs.mean, serverMsFor(CALL_SETUP_EVENTS, serverEventMs)),
    mediaSetup: split(calls.mediaSetupMs.mean, serverMsFor(MEDIA_SETUP_EVENTS, serverEventMs)),
    serverEventMs,
  };
}
