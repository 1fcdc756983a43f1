import { performance } from 'node:perf_hooks';
import { ClientError, PlainReceiveStream, PlainSendStream, RtpAddress, SocialClient, sleep } from '@app/client';
import type { CallDto } from '@app/contracts';
import type { Population } from './sim-population';
import { CallFindings, summarize } from './sim-report';
import { SeededRandom } from './seeded-random';

export interface CallTrafficOptions {
  calls: number;
  /** How long each side sends its tone. */
  callSeconds: number;
  /** Calls at the same time (each user is in at most one). */
  concurrentCalls: number;
  /** call:invite per second at most; the calls of a wave then talk at the same time. */
  callRate: number;
  /** Where the RTP sockets bind and what they announce (default: every interface, the address the gateway is reached from). */
  rtpAddress?: RtpAddress;
}

/** Each side of a call sends its own tone; each checks it hears the other's. */
export const CALLER_TONE_HZ = 440;
export const CALLEE_TONE_HZ = 660;
/** Share of the other side's packets that must arrive as its tone. */
export const TONE_PASS_SHARE = 0.9;
const SIGNAL_TIMEOUT_MS = 15_000;
/** How long a leg may trail its sender before the check counts what came. */
const LAST_PACKET_GRACE_MS = 3000;

/**
 * Spaces call starts and hang-ups at most `perSecond` apart, shared by every caller:
 * a gateway sets up calls at a finite rate, and hundreds of invites in the
 * same millisecond measure its queue, not the calls.
 */
export class CallStartPacer {
  private nextSlot = 0;

  constructor(private readonly perSecond: number) {}

  async next(): Promise<void> {
    const now = performance.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + 1000 / this.perSecond;
    if (slot > now) await sleep(slot - now);
  }
}

/**
 * Holds every call of a wave once its streams are open until the others
 * are ready too (or failed), so the wave's calls all carry audio at once:
 * the concurrency asked for is the concurrency the SFU and the clients see.
 */
export class WaveBarrier {
  private waiting = 0;
  private release!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));

  constructor(private expected: number) {
    if (expected <= 0) this.release();
  }

  /** Resolves when every call of the wave arrived or left. */
  arrive(): Promise<void> {
    this.waiting++;
    this.check();
    return this.released;
  }

  /** A call that failed before it got here. */
  leave(): void {
    this.expected--;
    this.check();
  }

  private check(): void {
    if (this.waiting >= this.expected) this.release();
  }
}

/** Calls carrying audio right now, and the most seen at once. */
export class ConcurrencyGauge {
  private current = 0;
  peak = 0;

  enter(): void {
    this.peak = Math.max(this.peak, ++this.current);
  }

  exit(): void {
    this.current--;
  }
}

export interface CallOutcome {
  connected: boolean;
  /** Something went wrong before the caller's hang-up was answered. */
  failed: boolean;
  /** call:invite to `active` seen by the caller. */
  setupMs?: number;
  /** `active` to both legs' streams open (transports, producers, consumers). */
  mediaSetupMs?: number;
  endReason?: string;
  packetsSent: number;
  packetsReceived: number;
  toneChecks: number;
  tonePassed: number;
}

/**
 * Places `calls` voice calls between friends, in waves of disjoint pairs.
 * In each call both sides open plain RTP streams, send a real Opus tone at
 * the same time for `callSeconds`, and check what arrives; then the caller
 * hangs up.
 */
export async function runCallTraffic(
  population: Population,
  random: SeededRandom,
  options: CallTrafficOptions,
  progress: () => void,
  errors: string[],
): Promise<CallFindings> {
  const outcomes: CallOutcome[] = [];
  const pacer = new CallStartPacer(options.callRate);
  const talking = new ConcurrencyGauge();
  const waves = planWaves(population.friendships, options.calls, options.concurrentCalls, random);
  for (const wave of waves) {
    const barrier = new WaveBarrier(wave.length);
    const results = await Promise.all(
      wave.map(async ([a, b]) => {
        const outcome = await placeVoiceCall(population.clients[a], population.clients[b], options.callSeconds, errors, {
          rtpAddress: options.rtpAddress,
          pacer,
          barrier,
          talking,
        });
        progress();
        return outcome;
      }),
    );
    outcomes.push(...results);
  }
  return { ...summarizeCalls(outcomes), peakConcurrentCalls: talking.peak };
}

/**
 * Calls that keep starting and ending until `untilMs` (performance.now()
 * time): `concurrentCalls` lanes, each placing one call after another
 * between a random pair of friends that are both free.
 */
export async function runCallChurn(
  population: Population,
  random: SeededRandom,
  options: Omit<CallTrafficOptions, 'calls'> & { untilMs: number },
  progress: () => void,
  errors: string[],
): Promise<CallFindings> {
  const outcomes: CallOutcome[] = [];
  const pacer = new CallStartPacer(options.callRate);
  const talking = new ConcurrencyGauge();
  const busy = new Set<number>();
  const { friendships, clients } = population;
  const freePair = (): [number, number] | undefined => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const [a, b] = random.pick(friendships);
      if (!busy.has(a) && !busy.has(b)) return random.next() < 0.5 ? [a, b] : [b, a];
    }
    return undefined;
  };
  const lanes = Array.from({ length: options.concurrentCalls }, async (_, lane) => {
    // Lanes start spread over one call length, so calls do not all start and end in step.
    await sleep((lane / options.concurrentCalls) * options.callSeconds * 1000);
    while (performance.now() < options.untilMs) {
      const pair = freePair();
      if (!pair) {
        await sleep(100);
        continue;
      }
      const [a, b] = pair;
      busy.add(a);
      busy.add(b);
      try {
        outcomes.push(await placeVoiceCall(clients[a], clients[b], options.callSeconds, errors, { rtpAddress: options.rtpAddress, pacer, talking }));
      } finally {
        busy.delete(a);
        busy.delete(b);
      }
      progress();
    }
  });
  if (friendships.length > 0) await Promise.all(lanes);
  return { ...summarizeCalls(outcomes), peakConcurrentCalls: talking.peak };
}

export function summarizeCalls(outcomes: CallOutcome[]): Omit<CallFindings, 'peakConcurrentCalls'> {
  const endedByReason: Record<string, number> = {};
  for (const o of outcomes) if (o.endReason) endedByReason[o.endReason] = (endedByReason[o.endReason] ?? 0) + 1;
  const sum = (f: (o: CallOutcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  const toneChecks = sum((o) => o.toneChecks);
  const tonePassed = sum((o) => o.tonePassed);
  const values = (f: (o: CallOutcome) => number | undefined) => outcomes.flatMap((o) => (f(o) === undefined ? [] : [f(o)!]));
  return {
    placed: outcomes.length,
    connected: outcomes.filter((o) => o.connected).length,
    failed: outcomes.filter((o) => o.failed).length,
    endedByReason,
    setupMs: summarize(values((o) => o.setupMs)),
    mediaSetupMs: summarize(values((o) => o.mediaSetupMs)),
    audio: {
      packetsSent: sum((o) => o.packetsSent),
      packetsReceived: sum((o) => o.packetsReceived),
      toneChecks,
      tonePassed,
      tonePassRate: toneChecks === 0 ? 1 : tonePassed / toneChecks,
    },
  };
}

/** Groups `count` calls into waves of disjoint friend pairs, at most `perWave` each. */
export function planWaves(
  friendships: [number, number][],
  count: number,
  perWave: number,
  random: SeededRandom,
): [number, number][][] {
  const waves: [number, number][][] = [];
  if (friendships.length === 0) return waves;
  // In index order the friends of a ring pair up completely (0-1, 2-3, ...), which a
  // random order often misses; the larger of the two pairings makes the wave.
  const inOrder = [...friendships].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let left = count;
  while (left > 0) {
    const size = Math.min(perWave, left);
    const shuffled = disjointPairs(random.shuffle(friendships), size);
    const pairs = shuffled.length >= size ? shuffled : [shuffled, disjointPairs(inOrder, size)].reduce((x, y) => (y.length > x.length ? y : x));
    // Alternate who calls, so both directions are exercised.
    const wave = pairs.map(([a, b]): [number, number] => (random.next() < 0.5 ? [a, b] : [b, a]));
    waves.push(wave);
    left -= wave.length;
  }
  return waves;
}

/** Up to `limit` pairs from `candidates` with nobody in two of them, taken greedily in order. */
function disjointPairs(candidates: [number, number][], limit: number): [number, number][] {
  const busy = new Set<number>();
  const out: [number, number][] = [];
  for (const [a, b] of candidates) {
    if (out.length >= limit) break;
    if (busy.has(a) || busy.has(b)) continue;
    busy.add(a);
    busy.add(b);
    out.push([a, b]);
  }
  return out;
}

/** Listens for the other side's audio producer of `callId` (registered before it can be announced). */
function nextAudioProducer(client: SocialClient, callId: string): Promise<string> {
  const wait = client
    .waitFor('media:producer-added', (p) => p.callId === callId && p.kind === 'audio', SIGNAL_TIMEOUT_MS)
    .then((p) => p.producerId);
  wait.catch(() => undefined); // observed later; avoid an unhandled rejection if we bail out first
  return wait;
}

export interface PlaceCallOptions {
  rtpAddress?: RtpAddress;
  pacer?: CallStartPacer;
  barrier?: WaveBarrier;
  talking?: ConcurrencyGauge;
}

export async function placeVoiceCall(
  caller: SocialClient,
  callee: SocialClient,
  callSeconds: number,
  errors: string[],
  options: PlaceCallOptions = {},
): Promise<CallOutcome> {
  const outcome: CallOutcome = { connected: false, failed: false, packetsSent: 0, packetsReceived: 0, toneChecks: 0, tonePassed: 0 };
  const streams: { close(): void }[] = [];
  const streamOptions = { rtpAddress: options.rtpAddress };
  let atBarrier = false;
  let isTalking = false;
  let call: CallDto | undefined;
  const note = (what: string, err: unknown) => {
    if (errors.length < 20) errors.push(`${what} ${caller.user.handle}->${callee.user.handle}: ${describe(err)}`);
  };
  try {
    await options.pacer?.next();
    const started = performance.now();
    call = await caller.calls.invite(callee.id, 'audio');
    const callId = call.id;
    const callerActive = caller.calls.waitForState(callId, 'active', SIGNAL_TIMEOUT_MS);
    callerActive.catch(() => undefined);
    await callee.calls.waitForCall(callId, SIGNAL_TIMEOUT_MS);
    const producerForCaller = nextAudioProducer(caller, callId);
    const producerForCallee = nextAudioProducer(callee, callId);
    await callee.calls.accept(callId);
    await callerActive;
    const active = performance.now();
    outcome.setupMs = active - started;
    outcome.connected = true;

    const [callerSend, calleeSend] = await Promise.all([
      PlainSendStream.open(caller, callId, 'audio', streamOptions),
      PlainSendStream.open(callee, callId, 'audio', streamOptions),
    ]);
    streams.push(callerSend, calleeSend);
    const [callerRecv, calleeRecv] = await Promise.all([
      producerForCaller.then((id) => PlainReceiveStream.open(caller, callId, id, streamOptions)),
      producerForCallee.then((id) => PlainReceiveStream.open(callee, callId, id, streamOptions)),
    ]);
    streams.push(callerRecv, calleeRecv);
    outcome.mediaSetupMs = performance.now() - active;
    atBarrier = true;
    await options.barrier?.arrive();
    options.talking?.enter();
    isTalking = true;
    // Both listen before either speaks, so the whole tone can be checked.
    const [sentByCaller, sentByCallee] = await Promise.all([
      callerSend.sendTone(CALLER_TONE_HZ, callSeconds * 1000),
      calleeSend.sendTone(CALLEE_TONE_HZ, callSeconds * 1000),
    ]);
    await Promise.all([
      callerRecv.waitForPackets(sentByCallee, LAST_PACKET_GRACE_MS),
      calleeRecv.waitForPackets(sentByCaller, LAST_PACKET_GRACE_MS),
    ]);
    options.talking?.exit();
    isTalking = false;
    outcome.packetsSent = sentByCaller + sentByCallee;
    outcome.packetsReceived = callerRecv.packets.length + calleeRecv.packets.length;
    outcome.toneChecks = 2;
    // A wave's tones end together: checking each call in its own turn of the event loop
    // keeps hundreds of checks from running back to back as one long block.
    await new Promise((resolve) => setImmediate(resolve));
    const callerHeard = callerRecv.checkTone(CALLEE_TONE_HZ, sentByCallee, { passShare: TONE_PASS_SHARE });
    const calleeHeard = calleeRecv.checkTone(CALLER_TONE_HZ, sentByCaller, { passShare: TONE_PASS_SHARE });
    outcome.tonePassed = Number(callerHeard.passed) + Number(calleeHeard.passed);
    if (outcome.tonePassed < 2) {
      const leg = (c: typeof callerHeard) => `${c.exact}/${c.expected} exact, ${c.received} received, ${c.decodedMatching}/${c.decoded} decoded as the tone`;
      note('tone check', `caller heard ${leg(callerHeard)}; callee heard ${leg(calleeHeard)}`);
    }

    // A wave's tones end together; hang-ups keep to the same signalling pace as invites.
    await options.pacer?.next();
    const ended = caller.calls.waitForState(callId, 'ended', SIGNAL_TIMEOUT_MS);
    ended.catch(() => undefined);
    await caller.calls.hangup(callId);
    outcome.endReason = (await ended).endReason;
  } catch (err) {
    outcome.failed = true;
    note(call ? `call ${call.id}` : 'call:invite', err);
    if (call) {
      const last = caller.calls.get(call.id);
      if (last?.state === 'ended') outcome.endReason = last.endReason;
      else await endQuietly(caller, last ?? call);
    }
  } finally {
    if (!atBarrier) options.barrier?.leave();
    if (isTalking) options.talking?.exit();
    for (const s of streams) s.close();
  }
  return outcome;
}

async function endQuietly(caller: SocialClient, call: CallDto): Promise<void> {
  try {
    if (call.state === 'ringing') await caller.calls.cancel(call.id);
    else await caller.calls.hangup(call.id);
  } catch {
    // Already ended, or the gateway is gone: nothing more to clean up from here.
  }
}

export function describe(err: unknown): string {
  if (err instanceof ClientError) return `${err.code} ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
