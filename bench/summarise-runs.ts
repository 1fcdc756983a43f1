/**
 * npm run bench:summary -- [results .json ...]
 * The performance targets over several `npm run bench` runs: each target's
 * range and how many runs met it, and the runs that met every target. With
 * no files, every run in bench/results/. Quick runs are left out (too short
 * to judge the targets by). Exit codes: 0 printed, 2 bad usage or a file that
 * is not a run's results.
 */
import fs from 'node:fs';
import { benchRunFiles } from './capacity/measured-costs';
import type { SuiteResults } from './support/results-report';
import { summariseRuns } from './support/run-targets';

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

/** The summary of the full runs among `runs`, in markdown. */
export function renderSummary(runs: SuiteResults[]): string {
  const full = runs.filter((r) => !r.quick).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const skippedQuick = runs.length - full.length;
  const summary = summariseRuns(full);
  const out = [`# The performance targets over ${summary.runs} run${summary.runs === 1 ? '' : 's'}`, ''];
  if (full.length > 0) out.push(`From ${full[0].startedAt} to ${full[full.length - 1].startedAt}.`, '');
  if (skippedQuick > 0)
    out.push(`${skippedQuick} quick run${skippedQuick === 1 ? '' : 's'} left out: too short to judge the targets by.`, '');
  if (summary.tallies.length === 0) {
    out.push('No run measured a target.', '');
    return out.join('\n');
  }
  out.push('| target | lowest to highest | runs that met it |', '|---|---|---|');
  for (const t of summary.tallies) out.push(`| ${t.target} | ${t.range} | ${t.met} of ${t.measured} |`);
  out.push(
    '',
    `Every target met in ${summary.everyTargetMet.length} of ${summary.runs}` +
      (summary.everyTargetMet.length > 0 ? `: ${summary.everyTargetMet.join(', ')}.` : '.'),
    '',
  );
  return out.join('\n');
}

export function main(argv: string[]): number {
  try {
    if (argv.includes('--help')) {
      process.stdout.write('Usage: npm run bench:summary -- [bench/results/<time>.json ...]\n');
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
