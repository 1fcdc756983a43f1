/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with
 * the most self time, the most inclusive time, and self time per package.
 *
 *   node -r ts-node/register/transpile-only bench/diagnostics/cpu-profile-summary.ts FILE.cpuprofile [top] [fromS] [toS]
 *
 * fromS/toS keep only the samples of that part of the run (seconds from the
 * profile's start), e.g. the load without the start-up's compiling; the
 * busy-time line printed first shows where the load was.
 *
 * The samples are taken by the wall clock: on a machine whose cores are all
 * busy, a thread taken off its core inside a system call (a write that wakes
 * PostgreSQL, say) shows as time in that call. Read `writev` and the like
 * against the process's system time (/proc/PID/stat), not as CPU.
 *
 * To profile the gateway under the messages benchmark:
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only messages --quick
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** `package` for a file in node_modules, `ours:<dir>` for the project's, the URL's kind otherwise. */
export function packageOf(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node (core)';
  // The last such directory: the build puts the libs under dist/apps/<app>/libs/.
  const m = /.*\/(apps|libs|bench|test)\/([^/]+)/.exec(url);
  return m ? `ours:${m[1]}/${m[2]}` : url;
}

/** A frame as `function file:line`, the file relative to node_modules or to the project's apps/libs/bench. */
export function frameLabel(f: ProfileNode['callFrame']): string {
  const file = f.url ? f.url.replace(/^.*node_modules\//, '').replace(/^.*\/(apps|libs|bench)\//, '$1/') : '';
  return `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
}

export function summarise(profile: Profile, top = 25, fromS = 0, toS = Infinity): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  let at = 0;
  // Busy share of each second of the run, to find the load.
  const busyPerSecond: number[] = [];
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    const idle = byId.get(id)!.callFrame.functionName === '(idle)';
    const second = Math.floor(at / 1e6);
    if (!idle) busyPerSecond[second] = (busyPerSecond[second] ?? 0) + dt;
    if (idle || at < fromS * 1e6 || at > toS * 1e6) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  const selfByLabel = new Map<string, number>();
  const inclByLabel = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const own = frameLabel(node.callFrame);
    selfByLabel.set(own, (selfByLabel.get(own) ?? 0) + us);
    const pkg = packageOf(node.callFrame.url);
    selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets the sample once (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = frameLabel(byId.get(cur)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclByLabel.set(l, (inclByLabel.get(l) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1)}%`.padStart(6);
  const table = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `${pct(us)}  ${k}`)
      .join('\n');
  return [
    `busy % per second: ${Array.from(busyPerSecond, (us) => Math.round((us ?? 0) / 1e4)).join(' ')}`,
    `busy time summarised (${fromS}s to ${toS === Infinity ? 'end' : `${toS}s`}): ${(total / 1e6).toFixed(2)} s`,
    '',
    '== self time by package ==',
    table(selfByPackage, top),
    '',
    '== self time by function ==',
    table(selfByLabel, top),
    '',
    '== inclusive time by function ==',
    table(inclByLabel, top),
  ].join('\n');
}

if (require.main === module) {
  const [file, top, fromS, toS] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: cpu-profile-summary.ts FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  process.stdout.write(
    `${summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile, Number(top) || 25, Number(fromS) || 0, toS ? Number(toS) : Infinity)}\n`,
  );
}
