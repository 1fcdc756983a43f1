import { performance } from 'node:perf_hooks';
import { AdminClient } from '@app/client';
import { runCallTraffic } from './call-traffic';
import { runMessageTraffic } from './message-traffic';
import { createPopulation, disconnectAll, Population } from './sim-population';
import { judge, SimReport } from './sim-report';
import { SeededRandom } from './seeded-random';
import { runVideoExperiment } from './video-experiment';

export interface SimOptions {
  url: string;
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
  /** Share of users (0..1) to switch video_call on for; 0 with videoCalls 0 skips the experiment. */
  videoShare: number;
  videoCalls: number;
  settleMs: number;
  seed: number;
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'url'> = {
  users: 10,
  friendsPerUser: 8,
  messagesPerUser: 5,
  messageRate: 20,
  calls: 5,
  callSeconds: 2,
  concurrentCalls: 5,
  videoShare: 0.5,
  videoCalls: 0,
  settleMs: 10_000,
  seed: 1,
};

export interface SimProgress {
  phase: 'users' | 'messages' | 'calls' | 'video' | 'done';
  done: number;
  total: number;
}

/**
 * The simulator's core, usable from the CLI and from tests: simulated users
 * befriend each other, exchange messages, place voice calls with real Opus
 * tones, and optionally run the video flag experiment. Talks to the gateway
 * only through the SDK.
 */
export async function runSimulation(options: SimOptions, onProgress: (p: SimProgress) => void = () => undefined): Promise<SimReport> {
  const startedAt = new Date();
  const began = performance.now();
  const random = new SeededRandom(options.seed);
  const errors: string[] = [];
  const runVideo = options.videoCalls > 0;
  if (runVideo && !options.adminToken) throw new Error('the video flag experiment needs the admin token (--admin-token)');

  const total = options.users + options.users * options.messagesPerUser + options.calls + (runVideo ? options.videoCalls : 0);
  let done = 0;
  let phase: SimProgress['phase'] = 'users';
  const tick = () => onProgress({ phase, done: ++done, total });
  onProgress({ phase, done, total });

  let population: Population | undefined;
  try {
    population = await createPopulation(options.url, options.users, options.friendsPerUser);
    done += options.users;
    phase = 'messages';
    onProgress({ phase, done, total });
    const messages = await runMessageTraffic(
      population,
      random,
      { messagesPerUser: options.messagesPerUser, ratePerSecond: options.messageRate, settleMs: options.settleMs },
      tick,
      errors,
    );
    phase = 'calls';
    const calls = await runCallTraffic(
      population,
      random,
      { calls: options.calls, callSeconds: options.callSeconds, concurrentCalls: options.concurrentCalls },
      tick,
      errors,
    );
    let videoExperiment;
    if (runVideo) {
      phase = 'video';
      videoExperiment = await runVideoExperiment(
        population,
        new AdminClient(options.url, options.adminToken!),
        random,
        { share: options.videoShare, calls: options.videoCalls, concurrentCalls: options.concurrentCalls },
        tick,
        errors,
      );
    }
    phase = 'done';
    onProgress({ phase, done: total, total });
    const report: Omit<SimReport, 'passed'> = {
      gatewayUrl: options.url,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - began),
      options: { ...options, adminToken: options.adminToken ? '(set)' : undefined },
      users: population.clients.length,
      friendships: population.friendships.length,
      messages,
      calls,
      videoExperiment,
      errors,
    };
    return { ...report, passed: judge(report) };
  } finally {
    disconnectAll(population);
  }
}
