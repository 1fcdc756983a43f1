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
