import { performance } from 'node:perf_hooks';

export interface PacedStream {
  /** Frames to send in all. */
  readonly frames: number;
  readonly frameMs: number;
  /** Sends frame `n` (0-based); must not throw. */
  sendFrame(n: number): void;
  /** Called once, after the last frame. */
  finished(): void;
}

interface Running {
  stream: PacedStream;
  startedAt: number;
  sent: number;
}

/**
 * One timer for every paced stream in the process, instead of a timer per
 * stream per frame (hundreds of calls would mean tens of thousands of
 * timers a second). Each tick sends every frame whose time has come,
 * counted from the stream's start, so a late tick sends a short burst and
 * no stream is stretched by a busy event loop.
 */
export class FramePacer {
  static readonly shared = new FramePacer();
  private readonly running = new Set<Running>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly tickMs = 5) {}

  get activeStreams(): number {
    return this.running.size;
  }

  start(stream: PacedStream): void {
    if (stream.frames <= 0) {
      stream.finished();
      return;
    }
    const entry = { stream, startedAt: performance.now(), sent: 0 };
    this.running.add(entry);
    this.send(entry, entry.startedAt);
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
  }

  private tick(): void {
    const now = performance.now();
    for (const entry of this.running) this.send(entry, now);
    if (this.running.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private send(entry: Running, now: number): void {
    const { stream } = entry;
    const due = Math.min(stream.frames, Math.floor((now - entry.startedAt) / stream.frameMs) + 1);
    while (entry.sent < due) stream.sendFrame(entry.sent++);
    if (entry.sent >= stream.frames) {
      this.running.delete(entry);
      stream.finished();
    }
  }
}
