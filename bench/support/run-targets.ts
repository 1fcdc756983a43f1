import type { SuiteResults } from './results-report';

/** One performance target as a run read it. */
export interface TargetReading {
  target: string;
  /** The run's value, with its unit. */
  reading: string;
  met: boolean;
}

interface Target {
  target: string;
  /** The run's value, undefined when its suite did not run or failed. */
  read(r: SuiteResults): number | undefined;
  format(value: number): string;
  met(value: number): boolean;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const signedMs = (v: number) => `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(2)} ms`;
const percent = (v: number) => `${(v * 100).toFixed(1)} %`;
const times = (v: number) => `${v}×`;

/** The one-process call set-up when it was measured. */
const setup = (r: SuiteResults) => (r.callSetup && 'total' in r.callSetup ? r.callSetup : undefined);
/** Two gateway processes against one, as the report prints it. */
const twoGateways = (r: SuiteResults) => r.messages?.scalingRatios?.find((s) => s.processes === 2);

/**
 * The performance targets, judged on the values as the report prints them
 * (the ratios rounded as in the JSON), so this table and the report's
 * paragraphs never disagree.
 */
const TARGETS: Target[] = [
  { target: 'invite → first audio p50 ≤ 20 ms', read: (r) => setup(r)?.total.p50, format: ms, met: (v) => v <= 20 },
  { target: 'set-up server share p50 ≤ 8 ms', read: (r) => setup(r)?.server.p50, format: ms, met: (v) => v <= 8 },
  { target: 'gateway CPU per set-up ≤ 8 ms', read: (r) => setup(r)?.gatewayCpuMsPerSetup, format: ms, met: (v) => v <= 8 },
  {
    target: 'room on a separate media node: server p50 ≤ +3 ms over one process',
    read: (r) => {
      const [one, split] = [setup(r), r.callSetupSplit];
      return one && split && 'total' in split ? split.server.p50 - one.server.p50 : undefined;
    },
    format: signedMs,
    met: (v) => v <= 3,
  },
  { target: "two gateway processes: rate ≥ one's", read: (r) => twoGateways(r)?.rate, format: percent, met: (v) => v >= 1 },
  { target: "two gateway processes: CPU per DM ≤ 1.3× one's", read: (r) => twoGateways(r)?.cpu, format: times, met: (v) => v <= 1.3 },
  { target: 'idle socket ≤ 12 KiB', read: (r) => r.idleSockets?.retainedPerSocketKiB, format: (v) => `${v} KiB`, met: (v) => v <= 12 },
  {
    target: 'persisted DMs ≥ 75 % of single-row inserts',
    read: (r) => r.messages?.ratios?.ofDbInserts,
    format: percent,
    met: (v) => v >= 0.75,
  },
  {
    target: "gateway CPU per DM ≤ 4× the relay's per message",
    read: (r) => r.messages?.ratios?.cpuOfRelay,
    format: times,
    met: (v) => v <= 4,
  },
  {
    target: 'DM delivery p99 < 50 ms',
    read: (r) => {
      const persisted = r.messages?.persisted;
      return persisted && 'deliveredPerSec' in persisted ? persisted.deliveryLatencyMs.p99 : undefined;
    },
    format: ms,
    met: (v) => v < 50,
  },
];

/** Each performance target the run measured (those of the suites it ran), met or not. */
export function targetReadings(r: SuiteResults): TargetReading[] {
  return TARGETS.flatMap(({ target, read, format, met }) => {
    const value = read(r);
    return value === undefined || !Number.isFinite(value) ? [] : [{ target, reading: format(value), met: met(value) }];
  });
}

/** The report's first section: the targets in a table and how many were met; none when no suite read one. */
export function targetsSection(r: SuiteResults): string[] {
  const readings = targetReadings(r);
  if (readings.length === 0) return [];
  const missed = readings.filter((t) => !t.met);
  return [
    '## Performance targets in this run',
    '',
    '| target | this run | met |',
    '|---|---|---|',
    ...readings.map((t) => `| ${t.target} | ${t.reading} | ${t.met ? 'yes' : '**no**'} |`),
    '',
    `${readings.length - missed.length} of ${readings.length} met` +
      (missed.length > 0 ? `; missed: ${missed.map((t) => t.target).join('; ')}.` : '.') +
      (r.quick ? ' A quick run is too short to read the targets by; run without --quick for that.' : ''),
    '',
  ];
}
