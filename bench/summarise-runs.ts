/**
 * npm run bench:summary -- [results .json ...]
 * The performance targets over several `npm run bench` runs: each target's
 * range, median and how many runs met it, two gateways' CPU ratio read
 * against the load generator, the runs that met every target, and the runs
 * that other programs shared the machine with. With no files, every run in
 * bench/results/. Quick runs (too short to judge the targets by) and runs
 * that measured no target are left out, and counted.
 * Exit codes: 0 printed, 2 bad usage or a file that is not a run's results.
 */
import fs from 'node:fs';
import { benchRunFiles } from './capacity/measured-costs';
import type { SuiteResults } from './support/results-report';
import { describeSharedStages, LIMITS, OTHER_PROGRAMS_CORES, summariseRuns, targetReadings } from './support/run-targets';

export class UsageError extends Error {}

/** A run's results from `file`, or a UsageError that names the file and what is wrong with it. */
export function readRun(file: string): SuiteResults {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const run = parsed as Partial<SuiteResults> | null;
  if (typeof run?.startedAt !== 'string' || typeof run.machine !== 'object' || run.machine === null)
    throw new UsageError(`${file}: not the results of npm run bench (no startedAt and machine)`);
  return run as SuiteResults;
}

const runsOf = (n: number) => `${n} run${n === 1 ? '' : 's'}`;

/** The summary of the full runs among `runs` that measured a target, in markdown. */
export function renderSummary(runs: SuiteResults[]): string {
  const full = runs.filter((r) => !r.quick);
  const measuring = full.filter((r) => targetReadings(r).length > 0).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const summary = summariseRuns(measuring);
  const out = [`# The performance targets over ${runsOf(summary.runs)}`, ''];
  if (measuring.length > 0) out.push(`From ${measuring[0].startedAt} to ${measuring[measuring.length - 1].startedAt}.`, '');
  const [quick, other] = [runs.length - full.length, full.length - measuring.length];
  if (quick > 0) out.push(`${runsOf(quick)} left out as quick: too short to judge the targets by.`, '');
  if (other > 0) out.push(`${runsOf(other)} left out that measured no target (suites chosen with --only).`, '');
  if (summary.tallies.length === 0) {
    out.push('No run measured a target.', '');
    return out.join('\n');
  }
  out.push('| target | lowest to highest | median | runs that met it |', '|---|---|---|---|');
  for (const t of summary.tallies) out.push(`| ${t.target} | ${t.range} | ${t.median} | ${t.met} of ${t.measured} |`);
  const gauged = summary.twoGatewaysAgainstLoadGenerator;
  if (gauged) {
    out.push(
      '',
      "Two gateway processes' CPU per DM with each stage read against its load generator's (a reading beside " +
        `the target, which is judged on the plain ratio): ${gauged.range}, median ${gauged.median}; ` +
        `at most ${LIMITS.twoGatewaysCpu}× in ${gauged.withinLimit} of ${gauged.measured}.`,
    );
  }
  const met = summary.everyTargetMet;
  out.push(
    '',
    `Every target met in ${met.length} of ${summary.runs}` +
      (met.length > 0 ? `: ${met.join(', ')}; at most ${summary.everyTargetMetInARow} in a row.` : '.'),
    '',
  );
  const shared = summary.sharedWithOtherPrograms;
  if (shared.length > 0) {
    out.push(
      `Other programs kept at least ${OTHER_PROGRAMS_CORES} of a core busy beside ${runsOf(shared.length)}, in cores on average ` +
        `by stage: ${shared.map((s) => `${s.startedAt} (${describeSharedStages(s.stages)})`).join('; ')}. ` +
        "Their figures in those stages are not the machine's own: leave them out, or run again.",
      '',
    );
  }
  return out.join('\n');
}

export function main(argv: string[]): number {
  try {
    if (argv.includes('--help')) {
      process.stdout.write(
        'Usage: npm run bench:summary -- [bench/results/<time>.json ...]\n\n' +
          "The performance targets over the runs named (or every run in bench/results/): each target's\n" +
          "lowest to highest and median reading, how many runs met it, two gateways' CPU per DM read\n" +
          "against the load generator's, the runs that met every target (and how many in a row), and\n" +
          'the runs during which other programs kept cores busy.\n',
      );
      return 0;
    }
    const unknown = argv.find((a) => a.startsWith('-'));
    if (unknown) throw new UsageError(`unknown option ${unknown}`);
    process.stdout.write(renderSummary((argv.length > 0 ? argv : benchRunFiles()).map(readRun)));
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench:summary: ${err.message}\n`);
    return 2;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
