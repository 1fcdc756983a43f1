import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LatencySummary, round } from './latency-samples';
import type { RunCommand, RunReport } from './rtp-generator-thread';
import { LATENCY_BUCKET_MS } from './rtp-packet-format';

export interface RtpStream {
  /** Which generator thread sends and receives this stream. */
  thread: number;
  /** SFU port the stream is sent to (a comedia plain transport). */
  destPort: number;
  ssrc: number;
  payloadType: number;
}

export interface RtpRunResult {
  streams: number;
  sent: number;
  received: number;
  /** 1 - received/sent over the run, all streams. */
  lossRatio: number;
  worstStreamLoss: number;
  lateSends: number;
  latencyMs: LatencySummary;
  perStream: { sent: number; received: number }[];
}

const THREAD_ENTRY = path.join(__dirname, 'rtp-generator-thread.ts');

/**
 * A pool of load-generator threads, each with one UDP socket (receive buffer
 * raised so bursts are not dropped by the kernel). Stream i of a run is sent
 * from, and expected back at, thread `streams[i].thread`.
 */
export class RtpGenerator {
  private constructor(
    private readonly workers: Worker[],
    readonly ports: number[],
  ) {}

  static async start(threads: number, recvBufferBytes = 8 * 1024 * 1024): Promise<RtpGenerator> {
    const workers: Worker[] = [];
    const ports: number[] = [];
    for (let i = 0; i < threads; i++) {
      const w = new Worker(`require('ts-node/register/transpile-only'); require(${JSON.stringify(THREAD_ENTRY)});`, {
        eval: true,
        workerData: { recvBufferBytes, sendBufferBytes: 4 * 1024 * 1024 },
      });
      ports.push(
        await new Promise<number>((resolve, reject) => {
          w.once('message', (m: { port: number }) => resolve(m.port));
          w.once('error', reject);
        }),
      );
      workers.push(w);
    }
    return new RtpGenerator(workers, ports);
  }

  get threads(): number {
    return this.workers.length;
  }

  async run(streams: RtpStream[], timing: { warmupMs: number; durationMs: number; drainMs?: number }): Promise<RtpRunResult> {
    const byThread = this.workers.map(() => [] as number[]);
    streams.forEach((s, i) => byThread[s.thread].push(i));
    const reports = await Promise.all(
      this.workers.map(
        (w, t) =>
          new Promise<RunReport>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
            const cmd: RunCommand = {
              type: 'run',
              streams: byThread[t].map((i, index) => ({ index, ...streams[i] })),
              warmupMs: timing.warmupMs,
              durationMs: timing.durationMs,
              drainMs: timing.drainMs ?? 1000,
            };
            w.postMessage(cmd);
          }),
      ),
    );
    const perStream = streams.map(() => ({ sent: 0, received: 0 }));
    const buckets: number[] = [];
    let lateSends = 0;
    reports.forEach((r, t) => {
      byThread[t].forEach((streamIndex, local) => {
        perStream[streamIndex] = { sent: r.sent[local], received: r.received[local] };
      });
      r.latencyBuckets.forEach((c, i) => (buckets[i] = (buckets[i] ?? 0) + c));
      lateSends += r.lateSends;
    });
    const sent = perStream.reduce((a, s) => a + s.sent, 0);
    const received = perStream.reduce((a, s) => a + s.received, 0);
    return {
      streams: streams.length,
      sent,
      received,
      lossRatio: sent === 0 ? 0 : round(1 - received / sent, 5),
      worstStreamLoss: round(Math.max(0, ...perStream.map((s) => (s.sent === 0 ? 0 : 1 - s.received / s.sent))), 4),
      lateSends,
      latencyMs: summarizeBuckets(buckets),
      perStream,
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ type: 'close' });
          }),
      ),
    );
  }
}

function summarizeBuckets(buckets: number[]): LatencySummary {
  const count = buckets.reduce((a, b) => a + b, 0);
  const at = (q: number) => {
    const target = q * count;
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i];
      if (seen >= target && buckets[i] > 0) return round((i + 1) * LATENCY_BUCKET_MS);
    }
    return NaN;
  };
  let sum = 0;
  let max = 0;
  buckets.forEach((c, i) => {
    sum += c * (i + 0.5) * LATENCY_BUCKET_MS;
    if (c > 0) max = (i + 1) * LATENCY_BUCKET_MS;
  });
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(max), mean: round(count ? sum / count : NaN) };
}
