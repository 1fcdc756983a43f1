/**
 * The time source of the domain. Services read time only through it, so
 * tests can move time themselves instead of waiting.
 */
export abstract class Clock {
  abstract now(): Date;
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}

/** Time stands still at `at` (ms since the epoch) unless its owner moves it: for specs that judge times exactly. */
export class ManualClock extends Clock {
  constructor(private at: number) {
    super();
  }
  now(): Date {
    return new Date(this.at);
  }
  advance(ms: number): void {
    this.at += ms;
  }
}

/** The system's time, `offsetMs` off: a process whose wall clock is wrong. */
export class OffsetClock extends Clock {
  constructor(private readonly offsetMs: number) {
    super();
  }
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}
