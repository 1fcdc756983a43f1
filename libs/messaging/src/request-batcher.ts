export interface RequestBatcherOptions<I, O> {
  /** Inputs per batch at most; more waiting are split over several batches. */
  maxBatch: number;
  /** Batches running at once; the rest collect until one finishes. */
  maxInFlight: number;
  /** One result per input, in input order. */
  runBatch(inputs: I[]): Promise<O[]>;
  /** Used for every input of a failed batch, so a bad input fails only its own request. */
  runOne(input: I): Promise<O>;
  onBatch?(size: number): void;
  onBatchFailed?(err: unknown, size: number): void;
  /**
   * The rows an input's batch locks. Two running batches never share one:
   * an input whose rows a running batch holds waits for the next batch, with
   * every later input sharing a row with it (so each row's inputs keep their
   * order). Otherwise the second batch would wait in the database for the
   * first one's commit and then re-check the rows it found changed.
   */
  keysOf?(input: I): readonly string[];
}

interface Waiting<I, O> {
  input: I;
  resolve(output: O): void;
  reject(err: unknown): void;
}

/**
 * Turns many concurrent requests into few batch runs (group commit of the
 * send path): requests made in the same turn of the event loop, or while the
 * previous batches are still running, go in one batch. A lone request waits
 * only for the next turn. Each request is answered when its batch finished.
 */
export class RequestBatcher<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** The keys (keysOf) of the running batches. */
  private readonly held = new Set<string>();

  constructor(private readonly options: RequestBatcherOptions<I, O>) {}

  request(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.options.maxInFlight || this.waiting.length === 0) return;
      const { batch, keys } = this.takeBatch();
      // Every waiting input shares a row with a running batch: the next one starts when that one ends.
      if (batch.length === 0) return;
      this.inFlight++;
      for (const key of keys) this.held.add(key);
      void this.run(batch).finally(() => {
        for (const key of keys) this.held.delete(key);
        this.inFlight--;
        this.schedule();
      });
      this.schedule();
    });
  }

  /** The next batch: waiting inputs in order, up to maxBatch, leaving those whose rows must wait. */
  private takeBatch(): { batch: Waiting<I, O>[]; keys: Set<string> } {
    const keys = new Set<string>();
    const keysOf = this.options.keysOf;
    if (!keysOf) return { batch: this.waiting.splice(0, this.options.maxBatch), keys };
    const batch: Waiting<I, O>[] = [];
    const left: Waiting<I, O>[] = [];
    // Rows of the running batches and of the inputs left behind so far.
    const blocked = new Set(this.held);
    for (const [index, waiting] of this.waiting.entries()) {
      if (batch.length === this.options.maxBatch) {
        left.push(...this.waiting.slice(index));
        break;
      }
      const inputKeys = keysOf(waiting.input);
      if (inputKeys.some((k) => blocked.has(k))) {
        left.push(waiting);
        for (const k of inputKeys) blocked.add(k);
      } else {
        batch.push(waiting);
        for (const k of inputKeys) keys.add(k);
      }
    }
    this.waiting = left;
    return { batch, keys };
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    this.options.onBatch?.(batch.length);
    let outputs: O[];
    try {
      outputs = await this.options.runBatch(batch.map((w) => w.input));
      if (outputs.length !== batch.length) throw new Error(`batch gave ${outputs.length} results for ${batch.length} inputs`);
    } catch (err) {
      this.options.onBatchFailed?.(err, batch.length);
      await Promise.all(
        batch.map((w) =>
          this.options.runOne(w.input).then(
            (output) => w.resolve(output),
            (oneErr: unknown) => w.reject(oneErr),
          ),
        ),
      );
      return;
    }
    batch.forEach((w, i) => w.resolve(outputs[i]));
  }
}
