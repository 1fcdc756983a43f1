/**
 * Numeric settings that the bench and its diagnostics take from the
 * environment (ROUNDS=5, RATE=2000, SLEEPS=0,1,2). A value that is not a
 * number in range is refused with its name and the rule it breaks, so a
 * typo never turns into NaN rounds or a run that measures something else.
 */

export interface NumberRange {
  whole?: boolean;
  min?: number;
  max?: number;
  /** Exclusive bounds, for shares and rates that may not be 0. */
  above?: number;
  below?: number;
}

function ruleOf(range: NumberRange): string {
  const bounds = [
    range.min !== undefined && `≥ ${range.min}`,
    range.above !== undefined && `> ${range.above}`,
    range.max !== undefined && `≤ ${range.max}`,
    range.below !== undefined && `< ${range.below}`,
  ].filter(Boolean);
  const kind = range.whole ? 'a whole number' : 'a number';
  return bounds.length > 0 ? `${kind} ${bounds.join(' and ')}` : kind;
}

function inRange(n: number, range: NumberRange): boolean {
  return (
    Number.isFinite(n) &&
    (!range.whole || Number.isInteger(n)) &&
    (range.min === undefined || n >= range.min) &&
    (range.above === undefined || n > range.above) &&
    (range.max === undefined || n <= range.max) &&
    (range.below === undefined || n < range.below)
  );
}

/** The value as given, trimmed; undefined when unset or blank, which means the default. */
function given(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text ? text : undefined;
}

/** `value` as a number in `range`, or `fallback` when it is unset or empty; throws, naming `name`, when it is neither. */
export function parseNumberSetting<T extends number | undefined>(
  name: string,
  value: string | undefined,
  fallback: T,
  range: NumberRange = {},
): number | T {
  const text = given(value);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!inRange(n, range)) throw new Error(`${name}: ${ruleOf(range)}, not ${JSON.stringify(value)}`);
  return n;
}

/** A comma-separated list of numbers, each in `range`; `fallback` when unset or empty. */
export function parseNumberListSetting(name: string, value: string | undefined, fallback: number[], range: NumberRange = {}): number[] {
  const text = given(value);
  if (text === undefined) return fallback;
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item === '' || !inRange(Number(item), range))) {
    throw new Error(`${name}: ${ruleOf(range)} each, comma-separated, not ${JSON.stringify(value)}`);
  }
  return items.map(Number);
}

/** A script's setting read from its environment: a bad value ends the script with the reason (exit code 2) before it measures anything. */
function orExit<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
}

export function numberSetting(name: string, fallback: number, range?: NumberRange): number;
export function numberSetting(name: string, fallback: undefined, range?: NumberRange): number | undefined;
export function numberSetting(name: string, fallback: number | undefined, range: NumberRange = {}): number | undefined {
  return orExit(() => parseNumberSetting(name, process.env[name], fallback, range));
}

export function numberListSetting(name: string, fallback: number[], range: NumberRange = {}): number[] {
  return orExit(() => parseNumberListSetting(name, process.env[name], fallback, range));
}
