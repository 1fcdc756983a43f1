import { performance } from 'node:perf_hooks';
import { checkTone, ClientError, EncodedTone, PlainCallMedia, RtpAddress, SocialClient, sleep, ToneCheck } from '@app/client';
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
  /**
   * Where a user's RTP sockets bind and what they announce, per user (each
   * may be on another gateway); undefined: every interface, the address the
   * user's gateway is reached from.
   */
  rtpAddressOf?: (client: SocialClient) => RtpAddress | undefined;
}

/** Each side of a call sends its own tone; each checks it hears the other's. */
export const CALLER_TONE_HZ = 440;
export const CALLEE_TONE_HZ = 660;
/** Share of the other side's packets that must arrive as its tone. */
export const TONE_PASS_SHARE = 0.9;
const SIGNAL_TIMEOUT_MS = 15_000;
/** How long a leg may trail its sender before the check counts what came. */
const LAST_PACKET_GRACE_MS = 3000;
/** Tone rounds per call: a round cut by media:restart is played again once the call renegotiated. */
const MAX_TONE_ROUNDS = 4;

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
  /** Of the tone round that was checked (the last one, after any restart). */
  packetsSent: number;
  packetsReceived: number;
  toneChecks: number;
  tonePassed: number;
  /** media:restart events of the call (each reaches both participants; counted once). */
  restarts: number;
  /** Tone rounds a restart cut short, played again once the call had renegotiated. */
  toneRoundsReplayed: number;
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
          rtpAddressOf: options.rtpAddressOf,
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
        outcomes.push(
          await placeVoiceCall(clients[a], clients[b], options.callSeconds, errors, { rtpAddressOf: options.rtpAddressOf, pacer, talking }),
        );
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
    restarts: sum((o) => o.restarts),
    callsRestarted: outcomes.filter((o) => o.restarts > 0).length,
    toneRoundsReplayed: sum((o) => o.toneRoundsReplayed),
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
export function planWaves(friendships: [number, number][], count: number, perWave: number, random: SeededRandom): [number, number][][] {
  const waves: [number, number][][] = [];
  if (friendships.length === 0) return waves;
  // In index order the friends of a ring pair up completely (0-1, 2-3, ...), which a
  // random order often misses; the larger of the two pairings makes the wave.
  const inOrder = [...friendships].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let left = count;
  while (left > 0) {
    const size = Math.min(perWave, left);
    const shuffled = disjointPairs(random.shuffle(friendships), size);
    const pairs =
      shuffled.length >= size ? shuffled : [shuffled, disjointPairs(inOrder, size)].reduce((x, y) => (y.length > x.length ? y : x));
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

export interface PlaceCallOptions {
  rtpAddressOf?: (client: SocialClient) => RtpAddress | undefined;
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
  const outcome: CallOutcome = {
    connected: false,
    failed: false,
    packetsSent: 0,
    packetsReceived: 0,
    toneChecks: 0,
    tonePassed: 0,
    restarts: 0,
    toneRoundsReplayed: 0,
  };
  const media: PlainCallMedia[] = [];
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
    await callee.calls.accept(callId);
    await callerActive;
    const active = performance.now();
    outcome.setupMs = active - started;
    outcome.connected = true;

    // The SDK's call media: each side sends on its own stream and receives the other's, and
    // negotiates again by itself whenever the server moves the call's media (media:restart).
    const opened = await Promise.allSettled([
      PlainCallMedia.start(caller, callId, { rtpAddress: options.rtpAddressOf?.(caller) }),
      PlainCallMedia.start(callee, callId, { rtpAddress: options.rtpAddressOf?.(callee) }),
    ]);
    for (const o of opened) if (o.status === 'fulfilled') media.push(o.value);
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
    const [callerMedia, calleeMedia] = media;
    await Promise.all(media.map((m) => m.ready(SIGNAL_TIMEOUT_MS)));
    outcome.mediaSetupMs = performance.now() - active;
    atBarrier = true;
    await options.barrier?.arrive();
    options.talking?.enter();
    isTalking = true;
    const round = await talk(callerMedia, calleeMedia, callSeconds);
    options.talking?.exit();
    isTalking = false;
    outcome.toneRoundsReplayed = round.rounds - 1;
    outcome.packetsSent = round.sent;
    outcome.packetsReceived = round.received;
    outcome.toneChecks = 2;
    // A wave's tones end together: checking each call in its own turn of the event loop
    // keeps hundreds of checks from running back to back as one long block.
    await new Promise((resolve) => setImmediate(resolve));
    const [callerHeard, calleeHeard] = round.check();
    outcome.tonePassed = Number(callerHeard.passed) + Number(calleeHeard.passed);
    if (outcome.tonePassed < 2) {
      const leg = (c: ToneCheck) =>
        `${c.exact}/${c.expected} exact, ${c.received} received, ${c.decodedMatching}/${c.decoded} decoded as the tone`;
      const after = round.rounds > 1 ? ` (tone round ${round.rounds}, after ${restartsOf(media)} restarts)` : '';
      note('tone check', `caller heard ${leg(callerHeard)}; callee heard ${leg(calleeHeard)}${after}`);
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
    outcome.restarts = restartsOf(media);
    if (!atBarrier) options.barrier?.leave();
    if (isTalking) options.talking?.exit();
    for (const m of media) m.close();
  }
  return outcome;
}

/** Restarts of a call: each one reaches both sides, so the larger count of the two. */
function restartsOf(media: PlainCallMedia[]): number {
  return Math.max(0, ...media.map((m) => m.restarts.length));
}

interface ToneRound {
  /** 1 when no restart cut a round short. */
  rounds: number;
  sent: number;
  received: number;
  /** The caller's and the callee's leg, each checked for the other side's tone. */
  check(): [ToneCheck, ToneCheck];
}

/**
 * Both sides send their tone at the same time and listen for the other's.
 * A media:restart during a round cuts it: once both sides have negotiated
 * again the tones are played again in full, so a leg that restarted passes
 * only on what it heard after its last restart.
 */
export async function talk(callerMedia: PlainCallMedia, calleeMedia: PlainCallMedia, callSeconds: number): Promise<ToneRound> {
  const both = [callerMedia, calleeMedia];
  for (let round = 1; ; round++) {
    await Promise.all(both.map((m) => m.ready(SIGNAL_TIMEOUT_MS)));
    // One side may restart again while the other was getting ready: both must be ready at the same time.
    if (!both.every((m) => m.isReady)) {
      if (round < MAX_TONE_ROUNDS) continue;
      throw new Error(`call media kept restarting (${restartsOf(both)} restarts): never ready on both sides at once`);
    }
    let cut!: () => void;
    const restarted = new Promise<'restarted'>((resolve) => (cut = () => resolve('restarted')));
    const offs = both.map((m) => m.onRestart(cut));
    try {
      const [callerSend, calleeSend] = [callerMedia.send!, calleeMedia.send!];
      const [callerRecv, calleeRecv] = [callerMedia.receive!, calleeMedia.receive!];
      // Only what arrives from this round on counts (a stream kept across rounds has older packets).
      const from = [callerRecv.packets.length, calleeRecv.packets.length];
      // Both listen before either speaks, so the whole tone can be checked.
      const sending = Promise.all([
        callerSend.sendTone(CALLER_TONE_HZ, callSeconds * 1000),
        calleeSend.sendTone(CALLEE_TONE_HZ, callSeconds * 1000),
      ]);
      const sent = await Promise.race([sending, restarted]);
      const heard =
        sent === 'restarted'
          ? sent
          : await Promise.race([
              Promise.all([
                callerRecv.waitForPackets(from[0] + sent[1], LAST_PACKET_GRACE_MS),
                calleeRecv.waitForPackets(from[1] + sent[0], LAST_PACKET_GRACE_MS),
              ]),
              restarted,
            ]);
      if ((sent === 'restarted' || heard === 'restarted') && round < MAX_TONE_ROUNDS) continue;
      const [byCaller, byCallee] = sent === 'restarted' ? [0, 0] : sent;
      const callerPayloads = callerRecv.packets.slice(from[0]).map((p) => p.payload);
      const calleePayloads = calleeRecv.packets.slice(from[1]).map((p) => p.payload);
      return {
        rounds: round,
        sent: byCaller + byCallee,
        received: callerPayloads.length + calleePayloads.length,
        check: () => [
          checkTone(callerPayloads, EncodedTone.of(CALLEE_TONE_HZ), byCallee, { passShare: TONE_PASS_SHARE }),
          checkTone(calleePayloads, EncodedTone.of(CALLER_TONE_HZ), byCaller, { passShare: TONE_PASS_SHARE }),
        ],
      };
    } finally {
      for (const off of offs) off();
    }
  }
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
