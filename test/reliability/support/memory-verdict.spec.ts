import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { GatewaySample, memoryVerdict } from './gateway-memory';
import { HeapInspector, INSPECTOR_NODE_ARGS } from '@app/harness';

const MB = 2 ** 20;

/** A reading at `atS` seconds with these sizes in MB. */
function reading(atS: number, mb: { rss: number; young: number; heapUsed: number }): GatewaySample {
  return {
    atMs: atS * 1000,
    rss: mb.rss * MB,
    heapTotal: (mb.heapUsed + mb.young + 8) * MB,
    heapUsed: mb.heapUsed * MB,
    external: 10 * MB,
    spaces: { new: mb.young * MB, old: mb.heapUsed * MB },
    activeHandles: 20,
  };
}

/** Readings every 10 s over 600 s; the verdict's windows are 120–180 s and 540–600 s. */
function run(at: (s: number) => { rss: number; young: number; heapUsed: number }): GatewaySample[] {
  return Array.from({ length: 60 }, (_, i) => reading((i + 1) * 10, at((i + 1) * 10)));
}

const judge = (samples: GatewaySample[], live: GatewaySample[]) => memoryVerdict(samples, live, 120_000, 600_000, 60_000);

describe('memoryVerdict', () => {
  it('tells V8 growing its young generation to the cap from memory kept', () => {
    // The young generation grows from 8 to 32 MB at 170 s, late in the baseline window; nothing else moves.
    const samples = run((s) => ({ rss: 140 + (s >= 170 ? 24 : 0), young: s >= 170 ? 32 : 8, heapUsed: 55 }));
    const live = run(() => ({ rss: 130, young: 2, heapUsed: 50 }));
    const v = judge(samples, live);
    expect(v.rssGrowth).toBeGreaterThan(0.1);
    expect(v.rssBeyondYoungGenerationGrowth).toBeCloseTo(0, 5);
    expect(v.liveHeapGrowth).toBeCloseTo(0, 5);
  });

  it('fails a process whose old generation keeps what it allocates', () => {
    // 0.1 MB a second kept: 54 MB more by the end, in the heap and in RSS beyond the young generation.
    const samples = run((s) => ({ rss: 140 + s / 10, young: 16, heapUsed: 55 + s / 10 }));
    const live = run((s) => ({ rss: 130 + s / 10, young: 2, heapUsed: 50 + s / 10 }));
    const v = judge(samples, live);
    expect(v.rssBeyondYoungGenerationGrowth).toBeGreaterThan(0.1);
    expect(v.liveHeapGrowth).toBeGreaterThan(0.1);
    expect(v.summary).toMatch(/live heap 65 → 107 MB/);
  });

  it('judges the live heap on the readings after a full collection, not on the sawtooth between them', () => {
    // Plain readings: garbage piles up more in the last window (a floor 15% higher); after a collection it is all gone.
    const samples = run((s) => ({ rss: 150, young: 16, heapUsed: s >= 540 ? 64 + (s % 20) : 55 + (s % 20) }));
    const live = run(() => ({ rss: 140, young: 2, heapUsed: 50 }));
    const v = judge(samples, live);
    expect(v.heapFloorGrowth).toBeGreaterThan(0.1);
    expect(v.liveHeapGrowth).toBeCloseTo(0, 5);
    expect([v.liveBaseline.length, v.liveFinal.length]).toEqual([7, 7]);
  });
});

describe('HeapInspector', () => {
  it('runs a full collection in another process on demand', async () => {
    // The child keeps 20 MB of garbage reachable until told (by a line on stdin) to drop it, then reports its heap per line.
    const child = spawn(
      process.execPath,
      [
        ...INSPECTOR_NODE_ARGS,
        '-e',
        `let junk = Array.from({ length: 200_000 }, (_, i) => ({ i, s: 'x'.repeat(64) }));
         process.stdin.on('data', (d) => {
           if (String(d).startsWith('drop')) junk = null;
           process.stdout.write(process.memoryUsage().heapUsed + '\\n');
         });`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const logs: string[] = [];
    readline.createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
    const heapLines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const heapUsed = async (command: string) => {
      child.stdin!.write(`${command}\n`);
      return Number((await heapLines.next()).value);
    };
    const inspector = await HeapInspector.attach(logs);
    try {
      const held = await heapUsed('read');
      await heapUsed('drop');
      await inspector.collectGarbage();
      const after = await heapUsed('read');
      expect(held - after).toBeGreaterThan(10 * MB);
    } finally {
      inspector.close();
      child.kill();
    }
  });
});
