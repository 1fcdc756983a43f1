/** Expiries are grouped into slots this long: one timer per slot, not one per socket. */
const SLOT_MS = 250;
// setTimeout's longest delay; a later slot is re-armed when it fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When each item expires, with one timer for the earliest slot of the whole
 * process instead of a timer (and its closure) per item: an idle socket
 * keeps only its entry in a slot's Set. An item fires in the slot its
 * expiry falls in, at most SLOT_MS late, never early.
 */
export class ExpirySchedule<T> {
  private readonly slots = new Map<number, Set<T>>();
  private timer?: NodeJS.Timeout;
  private armedFor?: number;

  constructor(
    private readonly onExpired: (item: T) => void,
    /** Milliseconds of the owner's clock. */
    private readonly now: () => number,
  ) {}

  add(item: T, expiresAtMs: number): void {
    const slot = slotOf(expiresAtMs);
    let items = this.slots.get(slot);
    if (!items) this.slots.set(slot, (items = new Set()));
    items.add(item);
    if (this.armedFor === undefined || slot < this.armedFor) this.arm(slot);
  }

  /** `expiresAtMs`: what it was added with (it names the slot). */
  remove(item: T, expiresAtMs: number): void {
    const slot = slotOf(expiresAtMs);
    const items = this.slots.get(slot);
    if (!items?.delete(item) || items.size > 0) return;
    this.slots.delete(slot);
  }

  /** Forgets every item and stops the timer. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
    this.slots.clear();
  }

  private arm(slot: number): void {
    clearTimeout(this.timer);
    this.armedFor = slot;
    this.timer = setTimeout(() => this.fire(), Math.min(Math.max(0, slot - this.now()), MAX_TIMER_MS));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    const now = this.now();
    for (const slot of [...this.slots.keys()].sort((a, b) => a - b)) {
      if (slot > now) return this.arm(slot);
      const items = this.slots.get(slot)!;
      this.slots.delete(slot);
      for (const item of items) this.onExpired(item);
    }
  }
}

function slotOf(expiresAtMs: number): number {
  return Math.ceil(expiresAtMs / SLOT_MS) * SLOT_MS;
}
