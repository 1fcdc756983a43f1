/**
 * npm run capacity -- --users N --dms-per-user-hour M --calls-per-user-day C --call-minutes D --video-share V [--results FILE] [--json]
 * Exit codes: 0 a plan printed, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { LoadProfile, planCapacity, renderPlan } from './capacity-model';
import { loadBaseline, loadCosts } from './measured-costs';

const USAGE = `Usage: npm run capacity -- --users <n> [--dms-per-user-hour <m>] [--calls-per-user-day <c>]
         [--call-minutes <d>] [--video-share <0..1>] [--results <bench results .json> | --baseline] [--json]

Reads the newest bench/results/*.json (or the committed baseline) and prints the gateway
processes, media cores, PostgreSQL's CPU and writes/s and Redis operations/s that the load needs.
--baseline uses the committed figures only (bench/capacity/baseline.json).`;

export class UsageError extends Error {}

function number(name: string, raw: string | undefined, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return def;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max)
    throw new UsageError(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return v;
}

export function parseCapacityArgs(argv: string[]): { load: LoadProfile; results?: string; baseline: boolean; json: boolean } | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        users: { type: 'string' },
        'dms-per-user-hour': { type: 'string' },
        'calls-per-user-day': { type: 'string' },
        'call-minutes': { type: 'string' },
        'video-share': { type: 'string' },
        results: { type: 'string' },
        baseline: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.users === undefined) throw new UsageError('--users is required');
  if (values.baseline && values.results !== undefined) throw new UsageError('--baseline and --results exclude each other');
  return {
    load: {
      users: number('users', values.users, 0, 1),
      dmsPerUserHour: number('dms-per-user-hour', values['dms-per-user-hour'], 2, 0),
      callsPerUserDay: number('calls-per-user-day', values['calls-per-user-day'], 1, 0),
      callMinutes: number('call-minutes', values['call-minutes'], 5, 0, 60),
      videoShare: number('video-share', values['video-share'], 0, 0, 1),
    },
    results: values.results,
    baseline: values.baseline ?? false,
    json: values.json ?? false,
  };
}

function main(): number {
  let args;
  try {
    args = parseCapacityArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const plan = planCapacity(args.load, args.baseline ? loadBaseline() : loadCosts(args.results));
  process.stdout.write(args.json ? `${JSON.stringify(plan, null, 2)}\n` : `${renderPlan(plan)}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main();
