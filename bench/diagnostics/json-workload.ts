/**
 * A fixed unit of allocation-heavy work, of the kind a gateway does per DM:
 * one of 20,000 small records through JSON and back. Returns a function
 * that runs one unit and gives a number to keep (so none is optimised away).
 */
export function jsonWorkUnit(): () => number {
  const records = Array.from({ length: 20_000 }, (_, i) => ({ id: i, body: `${'x'.repeat(64)}${i}`, to: `user-${i % 40}` }));
  let next = 0;
  let units = 0;
  return () => {
    next = (next * 7919 + 1) % records.length;
    return (JSON.parse(JSON.stringify({ ...records[next], at: units++ })) as { body: string }).body.length;
  };
}
