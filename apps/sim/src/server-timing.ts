/**
 * The gateway's own time spent handling socket events, read from its
 * `/metrics` (`socket_event_duration_seconds`), so a slow set-up can be
 * split into the server's share and everything else (the simulator's
 * event loop, the network, queues in between).
 */
export type EventTimes = Map<string, { seconds: number; count: number }>;

// Names may carry the gateway's METRICS_PREFIX (e.g. `smb_`).
const SERIES = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?socket_event_duration_seconds_(sum|count)\{[^}]*event="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)/;

export async function readEventTimes(gatewayUrl: string): Promise<EventTimes | undefined> {
  try {
    const res = await fetch(new URL('/metrics', gatewayUrl), { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    return parseEventTimes(await res.text());
  } catch {
    return undefined;
  }
}

/**
 * Event times of several gateways added up, so the mean taken between two
 * readings is over every gateway's events; undefined when any gateway's
 * /metrics cannot be read (a sum missing one would not be comparable).
 */
export async function readClusterEventTimes(gatewayUrls: string[]): Promise<EventTimes | undefined> {
  const readings = await Promise.all(gatewayUrls.map(readEventTimes));
  if (readings.some((r) => r === undefined)) return undefined;
  return sumEventTimes(readings as EventTimes[]);
}

export function sumEventTimes(readings: EventTimes[]): EventTimes {
  const total: EventTimes = new Map();
  for (const times of readings) {
    for (const [event, t] of times) {
      const entry = total.get(event) ?? { seconds: 0, count: 0 };
      total.set(event, { seconds: entry.seconds + t.seconds, count: entry.count + t.count });
    }
  }
  return total;
}

export function parseEventTimes(text: string): EventTimes {
  const times: EventTimes = new Map();
  for (const line of text.split('\n')) {
    const m = SERIES.exec(line);
    if (!m) continue;
    const entry = times.get(m[2]) ?? { seconds: 0, count: 0 };
    if (m[1] === 'sum') entry.seconds += Number(m[3]);
    else entry.count += Number(m[3]);
    times.set(m[2], entry);
  }
  return times;
}

/** Mean handling time in ms of each event between two readings. */
export function meanEventMs(before: EventTimes, after: EventTimes): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [event, a] of after) {
    const b = before.get(event) ?? { seconds: 0, count: 0 };
    const count = a.count - b.count;
    if (count > 0) out[event] = Math.round(((a.seconds - b.seconds) / count) * 1000 * 10) / 10;
  }
  return out;
}

/** Socket events on the path from call:invite to `active`. */
export const CALL_SETUP_EVENTS = ['call:invite', 'call:accept'];
/** Socket events one side sends to open its two plain streams. */
export const MEDIA_SETUP_EVENTS = [
  'media:create-transport',
  'media:produce',
  'media:create-transport',
  'media:connect-transport',
  'media:consume',
  'media:resume',
];

/** Server time of one pass along `events` (each event's mean, added up). */
export function serverMsFor(events: string[], means: Record<string, number>): number | null {
  let total = 0;
  for (const e of events) {
    if (means[e] === undefined) return null;
    total += means[e];
  }
  return Math.round(total * 10) / 10;
}
