import net from 'node:net';
import { parseArgs } from 'node:util';
import { parseDuration, parseNumberOption, parseUrls, UsageError } from '../sim-cli';
import { NETWORK_PROFILE_NAMES, NetworkConditions } from '@app/client';
import { experimentNetwork, NetworkFlagError } from './experiment-network';
import type { MediaSetup, VideoExperimentRunOptions } from './video-call-experiment';

/** The run's options as the command line gives them, and what the command itself does with the results. */
export interface ExperimentCliOptions extends Omit<VideoExperimentRunOptions, 'adminToken' | 'qualityIntervalMs' | 'clip' | 'setup'> {
  experiment: 'video';
  /** Required by the run; checked after parsing (it may come from $ADMIN_TOKEN or an embedded gateway). */
  adminToken?: string;
  qualityIntervalMs: number;
  /** join: call:accept with join and media:join; steps: one request per transport, producer and consumer. */
  setup: MediaSetup;
  out: string;
  html?: string;
  progress: boolean;
}

export const EXPERIMENT_USAGE = `Usage: npm run sim -- --experiment video [options]

Users are split into cohorts by the video_call flag and call random friends
for the whole duration: pairs who both have video place video calls (VP8
video and Opus audio), the others voice calls, through the network
conditions given. Writes a JSON report and, with --html, a page to read.

  --experiment video         the experiment to run (only "video" exists)
  --url <url>[,<url>...]     gateway(s) to drive (default: start one in this process)
  --admin-token <token>      the gateway's ADMIN_TOKEN (default: $ADMIN_TOKEN)
  --metrics-token <token>    the gateway's METRICS_TOKEN, if /metrics needs one (default: $METRICS_TOKEN)
  --users <n>                simulated users (10)
  --friends <n>              friends per user (4)
  --video-share <0..1>       share of users the flag is switched on for (0.5)
  --duration <time>          how long users keep calling, e.g. 90s, 5m (60s)
  --concurrent-calls <n>     calls at the same time (users / 4, at least 1)
  --call-rate <n>            call:invite per second at most (5)
  --call-seconds <a-b>       each call talks for a seeded time in this range, seconds (3-20)
  --network <profile>        ${NETWORK_PROFILE_NAMES.join(' | ')} (good)
  --loss <0..1>              random packet loss, e.g. 0.05 or 5%
  --burst-loss <0..1>        chance per packet of starting a loss burst (Gilbert-Elliott)
  --burst-length <n>         mean burst length, packets
  --delay <ms>               one-way delay added
  --jitter <ms>              extra delay of 0 up to this much per packet
  --bandwidth <kbit/s>       bandwidth per leg and direction (0: unlimited); also 2mbps
  --kill-switch-at <time>    switch the flag off at this moment of the run, e.g. 2m
  --seed <n>                 seed of every random choice, network included (1)
  --rtp-ip <ip>              bind RTP sockets to this address and announce it
  --setup <join|steps>       media set-up: call:accept with join and media:join (join),
                             or a request per transport, producer, consumer (steps)
  --quality-interval <ms>    the gateways' CALL_QUALITY_INTERVAL_MS, to read call:quality (default: $CALL_QUALITY_INTERVAL_MS or 5000)
  --out <file>               JSON report (experiment-report.json)
  --html <file>              a self-contained HTML report
  --no-progress              no progress line
  --help

Network values override the profile's. Exit codes: 0 the run passed, 1 it
has findings, 2 bad usage, 3 it crashed.
`;

const TALK_LIMIT_S = 3600;

/** Parses the experiment's command line; throws UsageError naming the flag at fault. */
export function parseExperimentCli(argv: string[], env: NodeJS.ProcessEnv = process.env): ExperimentCliOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeNumbers(argv),
      strict: true,
      options: {
        experiment: { type: 'string' },
        url: { type: 'string', multiple: true },
        'admin-token': { type: 'string' },
        'metrics-token': { type: 'string' },
        users: { type: 'string' },
        friends: { type: 'string' },
        'video-share': { type: 'string' },
        duration: { type: 'string' },
        'concurrent-calls': { type: 'string' },
        'call-rate': { type: 'string' },
        'call-seconds': { type: 'string' },
        network: { type: 'string' },
        loss: { type: 'string' },
        'burst-loss': { type: 'string' },
        'burst-length': { type: 'string' },
        delay: { type: 'string' },
        jitter: { type: 'string' },
        bandwidth: { type: 'string' },
        'kill-switch-at': { type: 'string' },
        seed: { type: 'string' },
        'rtp-ip': { type: 'string' },
        'quality-interval': { type: 'string' },
        setup: { type: 'string' },
        out: { type: 'string' },
        html: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.experiment !== 'video') throw new UsageError(`--experiment must be "video", got "${values.experiment ?? ''}"`);
  const users = parseNumberOption('users', values.users, 10, 2, 2000);
  const urls = parseUrls(values.url ?? []);
  const durationMs = values.duration === undefined ? 60_000 : parseDuration(values.duration);
  const [minTalkS, maxTalkS] = parseTalkRange(values['call-seconds'] ?? '3-20');
  let killSwitchAtMs: number | undefined;
  if (values['kill-switch-at'] !== undefined) {
    killSwitchAtMs = parseMoment('kill-switch-at', values['kill-switch-at']);
    if (killSwitchAtMs >= durationMs) {
      throw new UsageError(
        `--kill-switch-at must fall inside the run (--duration ${values.duration ?? '60s'}), got "${values['kill-switch-at']}"`,
      );
    }
  }
  const setup = values.setup ?? 'join';
  if (setup !== 'join' && setup !== 'steps') throw new UsageError(`--setup must be join or steps, got "${setup}"`);
  const rtpIp = values['rtp-ip'];
  if (rtpIp !== undefined && net.isIP(rtpIp) === 0)
    throw new UsageError(`--rtp-ip must be an IP address such as 192.0.2.10, got "${rtpIp}"`);
  let network: NetworkConditions;
  try {
    network = experimentNetwork(values.network, {
      loss: probability('loss', values.loss),
      burstLoss: probability('burst-loss', values['burst-loss']),
      burstLength: plainNumber('burst-length', values['burst-length'], ''),
      delayMs: plainNumber('delay', values.delay, 'ms'),
      jitterMs: plainNumber('jitter', values.jitter, 'ms'),
      bandwidthKbps: bandwidth(values.bandwidth),
    });
  } catch (err) {
    if (err instanceof NetworkFlagError) throw new UsageError(err.message);
    throw err;
  }
  return {
    experiment: 'video',
    urls,
    adminToken: values['admin-token'] ?? env.ADMIN_TOKEN,
    metricsToken: values['metrics-token'] ?? env.METRICS_TOKEN,
    users,
    friendsPerUser: parseNumberOption('friends', values.friends, 4, 1, 1000),
    videoShare: parseNumberOption('video-share', values['video-share'], 0.5, 0, 1, false),
    durationMs,
    concurrentCalls: parseNumberOption(
      'concurrent-calls',
      values['concurrent-calls'],
      Math.max(1, Math.floor(users / 4)),
      1,
      Math.max(1, Math.floor(users / 2)),
    ),
    callRate: parseNumberOption('call-rate', values['call-rate'], 5, 0.1, 1000, false),
    minTalkMs: minTalkS * 1000,
    maxTalkMs: maxTalkS * 1000,
    networkProfile: values.network ?? 'good',
    network,
    killSwitchAtMs,
    seed: parseNumberOption('seed', values.seed, 1, 0, 2 ** 32 - 1),
    rtpIp,
    qualityIntervalMs: parseNumberOption(
      'quality-interval',
      values['quality-interval'] ?? env.CALL_QUALITY_INTERVAL_MS,
      5000,
      0,
      3_600_000,
    ),
    setup,
    out: values.out ?? 'experiment-report.json',
    html: values.html,
    progress: !values['no-progress'] && process.stderr.isTTY === true,
  };
}

/** `3-20` seconds, or one number for a fixed length. */
export function parseTalkRange(raw: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*s?\s*$/.exec(raw);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(lo >= 1) || !(hi >= lo) || hi > TALK_LIMIT_S) {
    throw new UsageError(`--call-seconds must be a range of seconds such as 3-20 (from 1 to ${TALK_LIMIT_S}, low first), got "${raw}"`);
  }
  return [lo, hi];
}

/** A moment in the run: like --duration, but 0 is allowed. */
function parseMoment(flag: string, raw: string): number {
  if (/^\s*0+(?:\.0+)?(ms|s|m|h)?\s*$/.test(raw)) return 0;
  try {
    return parseDuration(raw);
  } catch {
    throw new UsageError(`--${flag} must be a time such as 30s or 2m, got "${raw}"`);
  }
}

/** 0.05 or 5%; range checked by the conditions' validator so the message names the flag. */
function probability(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(raw);
  if (!m) throw new UsageError(`--${flag} must be a probability such as 0.05 or 5%, got "${raw}"`);
  return m[2] ? Number(m[1]) / 100 : Number(m[1]);
}

function plainNumber(flag: string, raw: string | undefined, unit: string): number | undefined {
  if (raw === undefined) return undefined;
  const m = new RegExp(`^\\s*(-?\\d+(?:\\.\\d+)?)\\s*${unit ? `(?:${unit})?` : ''}\\s*$`).exec(raw);
  if (!m) throw new UsageError(`--${flag} must be a number${unit ? ` of ${unit}` : ''}, got "${raw}"`);
  return Number(m[1]);
}

const BANDWIDTH_UNITS: Record<string, number> = { '': 1, kbps: 1, k: 1, mbps: 1000, m: 1000 };

/** kbit/s: 500, 500kbps, 2mbps. */
function bandwidth(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m?.[2].toLowerCase() ?? '';
  if (!m || !(unit in BANDWIDTH_UNITS)) throw new UsageError(`--bandwidth must be kbit/s such as 500 or 2mbps, got "${raw}"`);
  return Number(m[1]) * BANDWIDTH_UNITS[unit];
}

/**
 * `--bandwidth -3` as `--bandwidth=-3`: parseArgs takes a value starting
 * with a dash for a forgotten argument, and the range check then names the
 * flag with the real reason.
 */
function joinNegativeNumbers(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[a-z-]+$/.test(argv[i]) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

/** Whether a command line asks for an experiment rather than the plain simulation. */
export function isExperimentCommand(argv: string[]): boolean {
  return argv.some((a) => a === '--experiment' || a.startsWith('--experiment='));
}
