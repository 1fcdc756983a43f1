import fs from 'node:fs';
import path from 'node:path';
import type { MeasuredCosts } from './capacity-model';

/** Figures of the committed baseline (bench/capacity/baseline.json): the model's answer on a fresh clone. */
export const BASELINE_FILE = path.join(__dirname, 'baseline.json');
export const RESULTS_DIR = path.join(__dirname, '..', 'results');

type Json = Record<string, unknown>;
const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
const msOf = (us: number | undefined) => (us === undefined ? undefined : us / 1000);

/** The largest passing step's worker CPU per call-second of a ramp in a results file. */
function workerUsPerCallSecond(ramp: unknown): number | undefined {
  const steps = get(ramp, 'steps');
  if (!Array.isArray(steps)) return undefined;
  const passing = steps.filter((s) => get(s, 'passed') === true && num(get(s, 'workerCpuUsPerCallSecond')));
  const last = passing[passing.length - 1] ?? steps[steps.length - 1];
  return num(get(last, 'workerCpuUsPerCallSecond'));
}

/**
 * Costs from one `npm run bench` results file, each figure falling back to
 * the baseline's where that run did not measure it (a run with `--only`).
 */
export function costsFromResults(results: unknown, baseline: MeasuredCosts, source: string): MeasuredCosts {
  const videoCost = get(results, 'videoCost');
  return {
    source,
    gatewayCpuUsPerDm: num(get(results, 'messages', 'persisted', 'cpuUsPerMessage')) ?? baseline.gatewayCpuUsPerDm,
    clusterCpuUsPerDm: num(get(results, 'messages', 'cluster', 'cpuUsPerMessage')) ?? baseline.clusterCpuUsPerDm,
    gatewayCpuMsPerCall: num(get(results, 'callSetup', 'gatewayCpuMsPerCall')) ?? baseline.gatewayCpuMsPerCall,
    workerCpuUsPerVoiceCallSecond:
      num(get(videoCost, 'voice', 'workerCpuUsPerCallSecond')) ??
      workerUsPerCallSecond(get(results, 'concurrentCalls', 'gateway')) ??
      baseline.workerCpuUsPerVoiceCallSecond,
    workerCpuUsPerVideoCallSecond: num(get(videoCost, 'video', 'workerCpuUsPerCallSecond')) ?? baseline.workerCpuUsPerVideoCallSecond,
    rssKiBPerSocket: num(get(results, 'idleSockets', 'rssPerSocketKiB')) ?? baseline.rssKiBPerSocket,
    postgresCpuUsPerDm: num(get(results, 'messages', 'persisted', 'machine', 'servicesUsPerOp', 'postgres')) ?? baseline.postgresCpuUsPerDm,
    postgresCpuMsPerCall: msOf(num(get(results, 'callSetup', 'machine', 'servicesUsPerOp', 'postgres'))) ?? baseline.postgresCpuMsPerCall,
  };
}

export function loadBaseline(file = BASELINE_FILE): MeasuredCosts {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as MeasuredCosts;
}

/** The results files of `npm run bench` in `dir`, oldest first (their names are their start times). */
export function benchRunFiles(dir = RESULTS_DIR): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('capacity-check'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The newest results file of `npm run bench`, or undefined when there is none. */
export function newestResultsFile(dir = RESULTS_DIR): string | undefined {
  return benchRunFiles(dir).at(-1);
}

/** Costs from the given or newest results file over the baseline; the baseline alone when there is none. */
export function loadCosts(resultsFile?: string): MeasuredCosts {
  const baseline = loadBaseline();
  const file = resultsFile ?? newestResultsFile();
  if (!file) return baseline;
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  return costsFromResults(results, baseline, `${path.relative(process.cwd(), file)} over the baseline`);
}
