import type { MachineCpuUse } from './machine-usage';
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

/** The performance targets' limits: one place for the table below and the report's paragraphs. */
export const LIMITS = {
  inviteToAudioMs: 20,
  serverShareMs: 8,
  gatewayCpuPerSetupMs: 8,
  routedExtraMs: 3,
  /** Two gateway processes' throughput over one's, at least. */
  twoGatewaysRate: 1,
  /** Two gateway processes' CPU per DM over one's, at most. */
  twoGatewaysCpu: 1.3,
  idleSocketKiB: 12,
  dmsOfInserts: 0.75,
  cpuOfRelay: 4,
  /** DM delivery p99, below. */
  dmP99Ms: 50,
} as const;

const ms = (v: number) => `${v.toFixed(2)} ms`;
const signedMs = (v: number) => `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(2)} ms`;
/** A ratio as a percentage, in the one style of the whole report (loss ratios want two decimals). */
export const percent = (v: number, decimals = 1) => `${(v * 100).toFixed(decimals)} %`;
// Rounded so that a median between two readings prints as plainly as they do.
const times = (v: number) => `${Number(v.toFixed(3))}×`;

/** The one-process call set-up when it was measured. */
const setup = (r: SuiteResults) => (r.callSetup && 'total' in r.callSetup ? r.callSetup : undefined);
/** How much longer a set-up's server share was with the room on a separate media node, when both were measured. */
export function routedExtraMs(r: SuiteResults): number | undefined {
  const [one, split] = [setup(r), r.callSetupSplit];
  return one && split && 'total' in split ? split.server.p50 - one.server.p50 : undefined;
}
/** Two gateway processes against one, as the report prints it. */
const twoGateways = (r: SuiteResults) => r.messages?.scalingRatios?.find((s) => s.processes === 2);

/**
 * The performance targets, judged on the values as the report prints them
 * (the ratios rounded as in the JSON), so this table and the report's
 * paragraphs never disagree.
 */
const TARGETS: Target[] = [
  {
    target: `invite → first audio p50 ≤ ${LIMITS.inviteToAudioMs} ms`,
    read: (r) => setup(r)?.total.p50,
    format: ms,
    met: (v) => v <= LIMITS.inviteToAudioMs,
  },
  {
    target: `set-up server share p50 ≤ ${LIMITS.serverShareMs} ms`,
    read: (r) => setup(r)?.server.p50,
    format: ms,
    met: (v) => v <= LIMITS.serverShareMs,
  },
  {
    target: `gateway CPU per set-up ≤ ${LIMITS.gatewayCpuPerSetupMs} ms`,
    read: (r) => setup(r)?.gatewayCpuMsPerSetup,
    format: ms,
    met: (v) => v <= LIMITS.gatewayCpuPerSetupMs,
  },
  {
    target: `room on a separate media node: server p50 ≤ +${LIMITS.routedExtraMs} ms over one process`,
    read: routedExtraMs,
    format: signedMs,
    met: (v) => v <= LIMITS.routedExtraMs,
  },
  {
    // "one's" rather than 100 %: the limit is the one process's rate itself.
    target: "two gateway processes: rate ≥ one's",
    read: (r) => twoGateways(r)?.rate,
    format: percent,
    met: (v) => v >= LIMITS.twoGatewaysRate,
  },
  {
    target: `two gateway processes: CPU per DM ≤ ${LIMITS.twoGatewaysCpu}× one's`,
    read: (r) => twoGateways(r)?.cpu,
    format: times,
    met: (v) => v <= LIMITS.twoGatewaysCpu,
  },
  {
    target: `idle socket ≤ ${LIMITS.idleSocketKiB} KiB`,
    read: (r) => r.idleSockets?.retainedPerSocketKiB,
    format: (v) => `${Number(v.toFixed(2))} KiB`,
    met: (v) => v <= LIMITS.idleSocketKiB,
  },
  {
    target: `persisted DMs ≥ ${LIMITS.dmsOfInserts * 100} % of single-row inserts`,
    read: (r) => r.messages?.ratios?.ofDbInserts,
    format: percent,
    met: (v) => v >= LIMITS.dmsOfInserts,
  },
  {
    target: `gateway CPU per DM ≤ ${LIMITS.cpuOfRelay}× the relay's per message`,
    read: (r) => r.messages?.ratios?.cpuOfRelay,
    format: times,
    met: (v) => v <= LIMITS.cpuOfRelay,
  },
  {
    target: `DM delivery p99 < ${LIMITS.dmP99Ms} ms`,
    read: (r) => {
      const persisted = r.messages?.persisted;
      return persisted && 'deliveredPerSec' in persisted ? persisted.deliveryLatencyMs.p99 : undefined;
    },
    format: ms,
    met: (v) => v < LIMITS.dmP99Ms,
  },
];

/** A target's value when the run measured it: read, and a finite number. */
const isReading = (value: number | undefined): value is number => value !== undefined && Number.isFinite(value);

/** Each performance target the run measured (those of the suites it ran), met or not. */
export function targetReadings(r: SuiteResults): TargetReading[] {
  return TARGETS.flatMap((t) => {
    const value = t.read(r);
    return isReading(value) ? [{ target: t.target, reading: t.format(value), met: t.met(value) }] : [];
  });
}

/** One target over several runs. */
export interface TargetTally {
  target: string;
  /** Runs that measured it. */
  measured: number;
  /** Of them, the runs that met it. */
  met: number;
  /** Its lowest to its highest reading. */
  range: string;
  /** Its middle reading (between the middle two of an even count). */
  median: string;
}

/** Two gateway processes' CPU per DM with each stage read against its load generator, over several runs. */
export interface GaugedTally {
  measured: number;
  range: string;
  median: string;
  /** Runs that read at most the CPU target's limit this way. */
  withinLimit: number;
}

export interface RunsSummary {
  runs: number;
  /** The runs that measured every target and met them all (their startedAt). */
  everyTargetMet: string[];
  /** The most of them next to each other, the runs taken in the order they started. */
  everyTargetMetInARow: number;
  /** The runs with stages that other programs shared the cores with (stagesSharedWithOtherPrograms). */
  sharedWithOtherPrograms: { startedAt: string; stages: SharedStage[] }[];
  /** The targets some run measured. */
  tallies: TargetTally[];
  /**
   * `cpuAgainstLoadGenerator` of two gateway processes, when runs measured it: a reading beside
   * the target (which is judged on the plain ratio), taking out how fast the machine ran in each stage.
   */
  twoGatewaysAgainstLoadGenerator?: GaugedTally;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Lowest to highest and the median of some readings, as `format` prints them. */
function spread(values: number[], format: (v: number) => string): { range: string; median: string } {
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return { range: low === high ? format(low) : `${format(low)} to ${format(high)}`, median: format(median(values)) };
}

/** What several runs read of each target, and which runs met them all: what RESULTS gives per machine. */
export function summariseRuns(runs: SuiteResults[]): RunsSummary {
  const tallies = TARGETS.flatMap((t) => {
    const values = runs.map((r) => t.read(r)).filter(isReading);
    if (values.length === 0) return [];
    return [{ target: t.target, measured: values.length, met: values.filter((v) => t.met(v)).length, ...spread(values, t.format) }];
  });
  const everyTargetMet = new Set(
    runs.filter((r) => {
      const readings = targetReadings(r);
      return readings.length === TARGETS.length && readings.every((t) => t.met);
    }),
  );
  let [inARow, longest] = [0, 0];
  for (const r of [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt))) {
    inARow = everyTargetMet.has(r) ? inARow + 1 : 0;
    longest = Math.max(longest, inARow);
  }
  const summary: RunsSummary = {
    runs: runs.length,
    everyTargetMet: [...everyTargetMet].map((r) => r.startedAt),
    everyTargetMetInARow: longest,
    tallies,
    sharedWithOtherPrograms: runs.flatMap((r) => {
      const stages = stagesSharedWithOtherPrograms(r);
      return stages.length > 0 ? [{ startedAt: r.startedAt, stages }] : [];
    }),
  };
  const gauged = runs.map((r) => twoGateways(r)?.cpuAgainstLoadGenerator).filter(isReading);
  if (gauged.length > 0) {
    summary.twoGatewaysAgainstLoadGenerator = {
      measured: gauged.length,
      withinLimit: gauged.filter((v) => v <= LIMITS.twoGatewaysCpu).length,
      ...spread(gauged, times),
    };
  }
  return summary;
}

/**
 * Cores, on average over a stage, that other programs must have kept busy
 * for the stage to be named as not left to the run (MachineCpuUse.otherCores).
 * Stages on a machine left to the run read 0–0.18 (bench/RESULTS.md, the
 * thirty-sixth machine); with a busy loop beside a run they read 0.46–0.74.
 */
export const OTHER_PROGRAMS_CORES = 0.3;

/** A stage of a run during which other programs kept cores busy. */
export interface SharedStage {
  stage: string;
  otherCores: number;
}

/** The stages of the run during which other programs kept at least OTHER_PROGRAMS_CORES busy: the messages' first, then the set-ups'. */
export function stagesSharedWithOtherPrograms(r: SuiteResults): SharedStage[] {
  const m = r.messages;
  const stages: [string, MachineCpuUse | undefined][] = [
    ['database inserts', m?.databaseCeiling.machine],
    ['persisted DMs', m && 'deliveredPerSec' in m.persisted ? m.persisted.machine : undefined],
    ...(m?.scaling ?? []).map((run): [string, MachineCpuUse | undefined] => [
      `${run.processes} on Redis`,
      'deliveredPerSec' in run ? run.machine : undefined,
    ]),
    ['call set-up', setup(r)?.machine],
    ['call set-up on a media node', r.callSetupSplit && 'total' in r.callSetupSplit ? r.callSetupSplit.machine : undefined],
  ];
  return stages.flatMap(([stage, use]) =>
    use?.otherCores !== undefined && use.otherCores >= OTHER_PROGRAMS_CORES ? [{ stage, otherCores: use.otherCores }] : [],
  );
}

/** "database inserts 0.93, 2 on Redis 0.41". */
export const describeSharedStages = (stages: SharedStage[]) => stages.map((s) => `${s.stage} ${s.otherCores}`).join(', ');

/**
 * The report's first section: the targets in a table and how many were met,
 * and the stages other programs shared the cores with; none when no suite
 * read a target.
 */
export function targetsSection(r: SuiteResults): string[] {
  const readings = targetReadings(r);
  if (readings.length === 0) return [];
  const missed = readings.filter((t) => !t.met);
  const shared = stagesSharedWithOtherPrograms(r);
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
    ...(shared.length === 0
      ? []
      : [
          `Other programs kept cores busy beside the run, in cores on average: ${describeSharedStages(shared)}. ` +
            'Those stages ran on less of the machine than the others, so their figures are not its own; run it again on a quiet machine.',
          '',
        ]),
  ];
}
