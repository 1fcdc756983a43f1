import net from 'node:net';
import { parseArgs } from 'node:util';
import { DEFAULT_SIM_OPTIONS, SimOptions } from './simulation';

export interface CliOptions extends Omit<SimOptions, 'url' | 'urls'> {
  /** Gateways to drive, in order; empty: start one in this process. */
  urls: string[];
  out: string;
  progress: boolean;
}

export const USAGE = `Usage: npm run sim -- [options]
       npm run sim -- --experiment video [options]   (the video experiment: --experiment video --help)

  --url <url>[,<url>...]   gateway(s) to drive (default: start one in this process,
                           on DATABASE_URL or the embedded PostgreSQL); several,
                           comma-separated or with --url repeated, spread the users
                           round-robin over them (user i on gateway i mod n), e.g.
                           --url http://127.0.0.1:3001,http://127.0.0.1:3002
  --admin-token <token>    the gateway's ADMIN_TOKEN (default: $ADMIN_TOKEN; needed
                           for the video experiment against --url)
  --users <n>              simulated users (${DEFAULT_SIM_OPTIONS.users})
  --friends <n>            friends per user (${DEFAULT_SIM_OPTIONS.friendsPerUser})
  --messages <n>           messages each user sends (${DEFAULT_SIM_OPTIONS.messagesPerUser})
  --message-rate <n>       messages per second, all users together (${DEFAULT_SIM_OPTIONS.messageRate})
  --calls <n>              voice calls to place (${DEFAULT_SIM_OPTIONS.calls})
  --call-seconds <s>       tone length per call (${DEFAULT_SIM_OPTIONS.callSeconds})
  --concurrent-calls <n>   calls at the same time (default: users / 2); the calls of
                           a wave all carry their tones at the same moment
  --call-rate <n>          call:invite (and call:hangup) per second at most, all
                           callers together
                           (${DEFAULT_SIM_OPTIONS.callRate})
  --video-share <0..1>     share of users to switch video_call on for (${DEFAULT_SIM_OPTIONS.videoShare})
  --video-calls <n>        video calls to attempt in the flag experiment (${DEFAULT_SIM_OPTIONS.videoCalls}: off)
  --duration <time>        churn for this long instead of fixed counts: calls keep
                           starting and ending (--concurrent-calls at a time) while
                           messages flow at --message-rate; e.g. 90s, 10m, 1h
  --rtp-ip <ip>            bind the RTP sockets to this address and announce it to
                           the SFU (default: bind every interface and announce the
                           address this host reaches the gateway from)
  --settle-ms <ms>         wait for late messages before counting losses (${DEFAULT_SIM_OPTIONS.settleMs})
  --seed <n>               seed of the random choices (${DEFAULT_SIM_OPTIONS.seed})
  --out <file>             JSON report (sim-report.json)
  --no-progress            no progress bar
  --help
`;

export class UsageError extends Error {}

/** Parses and checks the command line; throws UsageError with a reason. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        url: { type: 'string', multiple: true },
        'admin-token': { type: 'string' },
        users: { type: 'string' },
        friends: { type: 'string' },
        messages: { type: 'string' },
        'message-rate': { type: 'string' },
        calls: { type: 'string' },
        'call-seconds': { type: 'string' },
        'concurrent-calls': { type: 'string' },
        'call-rate': { type: 'string' },
        'video-share': { type: 'string' },
        'video-calls': { type: 'string' },
        'settle-ms': { type: 'string' },
        duration: { type: 'string' },
        'rtp-ip': { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const d = DEFAULT_SIM_OPTIONS;
  const users = parseNumberOption('users', values.users, d.users, 2, 10_000);
  const urls = parseUrls(values.url ?? []);
  if (urls.length > users) throw new UsageError(`--users must be at least the number of gateways (${urls.length}), got ${users}`);
  const rtpIp = values['rtp-ip'];
  if (rtpIp !== undefined && net.isIP(rtpIp) === 0)
    throw new UsageError(`--rtp-ip must be an IP address such as 192.0.2.10, got "${rtpIp}"`);
  return {
    urls,
    durationMs: values.duration === undefined ? undefined : parseDuration(values.duration),
    rtpIp,
    adminToken: values['admin-token'] ?? env.ADMIN_TOKEN,
    users,
    friendsPerUser: parseNumberOption('friends', values.friends, d.friendsPerUser, 1, 10_000),
    messagesPerUser: parseNumberOption('messages', values.messages, d.messagesPerUser, 0, 100_000),
    messageRate: parseNumberOption('message-rate', values['message-rate'], d.messageRate, 0.1, 100_000, false),
    calls: parseNumberOption('calls', values.calls, d.calls, 0, 100_000),
    callSeconds: parseNumberOption('call-seconds', values['call-seconds'], d.callSeconds, 0.2, 3600, false),
    concurrentCalls: parseNumberOption('concurrent-calls', values['concurrent-calls'], Math.max(1, Math.floor(users / 2)), 1, 5_000),
    callRate: parseNumberOption('call-rate', values['call-rate'], d.callRate, 0.1, 10_000, false),
    videoShare: parseNumberOption('video-share', values['video-share'], d.videoShare, 0, 1, false),
    videoCalls: parseNumberOption('video-calls', values['video-calls'], d.videoCalls, 0, 100_000),
    settleMs: parseNumberOption('settle-ms', values['settle-ms'], d.settleMs, 0, 600_000),
    seed: parseNumberOption('seed', values.seed, d.seed, 0, 2 ** 32 - 1),
    out: values.out ?? 'sim-report.json',
    progress: !values['no-progress'] && process.stderr.isTTY === true,
  };
}

/**
 * An option's number, `def` when it was not given. A blank value is refused
 * rather than read as 0 (what Number('') gives).
 */
export function parseNumberOption(name: string, raw: string | undefined, def: number, min: number, max: number, integer = true): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** Every --url value, each split at commas; every entry must be a URL, none listed twice. */
export function parseUrls(raw: string[]): string[] {
  const urls: string[] = [];
  const seen = new Set<string>();
  for (const value of raw) {
    for (const part of value.split(',')) {
      const entry = part.trim();
      let href: string;
      try {
        href = new URL(entry).href;
      } catch {
        throw new UsageError(
          `--url must be a URL such as http://gateway.local:3000 (or several, comma-separated), got "${entry}"${value !== entry ? ` in "${value}"` : ''}`,
        );
      }
      // The same gateway twice would count its /metrics twice.
      if (seen.has(href)) throw new UsageError(`--url lists ${entry} twice`);
      seen.add(href);
      urls.push(entry);
    }
  }
  return urls;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Longest churn run accepted: a day. */
const MAX_DURATION_MS = 24 * 3_600_000;

/** `90s`, `10m`, `1h`, `1500ms`, or a bare number of seconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS_MS[m[2] ?? 's'] : NaN;
  if (!Number.isFinite(ms) || ms < 1000 || ms > MAX_DURATION_MS) {
    throw new UsageError(`--duration must be a time from 1s to 24h such as 90s, 10m or 1h, got "${raw}"`);
  }
  return Math.round(ms);
}
