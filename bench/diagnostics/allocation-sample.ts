/**
 * What a running gateway allocates, and where: V8's sampling heap profiler,
 * through the process's inspector, counting objects the collector has
 * already freed too (so it is the allocation rate the young-generation
 * collections pay for, not what stays live). Prints the megabytes allocated
 * per second and per DM stored, the share per package (the nearest frame outside Node's core)
 * and the functions that allocate most themselves.
 *
 *   node -r ts-node/register/transpile-only bench/diagnostics/allocation-sample.ts [seconds] [inspector host:port]
 *   (defaults: 5 s, 127.0.0.1:9229)
 *
 * With the placement diagnostic's one-process run under load:
 *   BENCH_GATEWAY_NODE_ARGS=--inspect=127.0.0.1:9229 PLACEMENTS=one ROUNDS=1 \
 *     node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/diagnostics/gateway-placement.ts &
 *   sleep 11; node -r ts-node/register/transpile-only bench/diagnostics/allocation-sample.ts 5
 * It reads the gateway's DMs stored over the same seconds from its /metrics (its port from the
 * process itself, through the inspector) and prints the bytes allocated per DM.
 */
// The file, not the lib's index: the index loads the whole gateway, seconds that would shift the sampled window.
import { HeapInspector } from '../../libs/harness/src/heap-inspector';
import { frameLabel, packageOf } from './cpu-profile-summary';

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** DMs the gateway stored so far (its messages_sent_total, whatever the metrics' prefix), or undefined without metrics. */
async function messagesSent(port: string | undefined): Promise<number | undefined> {
  if (!port) return undefined;
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counts = [...text.matchAll(/^\w*messages_sent_total\{[^}]*\} (\d+)$/gm)].map((m) => Number(m[1]));
    return counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : undefined;
  } catch {
    return undefined;
  }
}

export function summariseAllocations(head: SamplingNode, seconds: number, top = 20, messages?: number): string {
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, owner: string) => {
    const url = node.callFrame.url;
    // Allocations inside Node's core count for the package that called into it.
    const here = url && !url.startsWith('node:') ? packageOf(url) : owner;
    if (node.selfSize > 0) {
      total += node.selfSize;
      byPackage.set(here, (byPackage.get(here) ?? 0) + node.selfSize);
      const label = frameLabel(node.callFrame);
      byFunction.set(label, (byFunction.get(label) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(head, '(node core)');
  const share = (bytes: number) => `${((bytes / total) * 100).toFixed(1).padStart(5)} %`;
  const rank = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${(total / 2 ** 20 / seconds).toFixed(1)} MB allocated per second (sampled over ${seconds} s)` +
      (messages ? `, ${messages} DMs stored: ${(total / messages / 1024).toFixed(1)} KiB per DM` : ''),
    '',
    'by package (nearest frame outside Node core):',
    ...rank(byPackage).map(([name, bytes]) => `${share(bytes)}  ${name}`),
    '',
    'functions allocating most themselves:',
    ...rank(byFunction).map(([name, bytes]) => `${share(bytes)}  ${name}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const address = process.argv[3] ?? '127.0.0.1:9229';
  const targets = (await (await fetch(`http://${address}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const inspector = await HeapInspector.connect(targets[0].webSocketDebuggerUrl);
  // The gateway's HTTP port, for its DM count (the inspector evaluates in the process).
  const evaluated = await inspector.request<{ result?: { value?: string } }>('Runtime.evaluate', {
    expression: 'process.env.PORT',
    returnByValue: true,
  });
  const port = evaluated.result?.value;
  await inspector.request('HeapProfiler.enable');
  await inspector.request('HeapProfiler.startSampling', {
    samplingInterval: 8192,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const sentBefore = await messagesSent(port);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const sentAfter = await messagesSent(port);
  const { profile } = await inspector.request<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling');
  inspector.close();
  const messages = sentBefore !== undefined && sentAfter !== undefined ? sentAfter - sentBefore : undefined;
  console.log(summariseAllocations(profile.head, seconds, 20, messages));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
