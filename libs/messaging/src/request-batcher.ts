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
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
      this.schedule();
    });
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
