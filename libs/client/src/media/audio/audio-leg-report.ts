import type { RtpPacket } from '../rtp-packet';
import { OPUS_FRAME_MS, OPUS_SAMPLE_RATE } from '../opus-codec';
import { mosFromR, rFactor } from './e-model';
import { decodeWithLoss } from './loss-aware-decoder';
import { segmentalToneSnrDb } from './tone-snr';

/** What an audio receiver reports of one leg (the simulator aggregates these). */
export interface AudioLegReport {
  /** From the first to the last sequence number received. */
  packetsExpected: number;
  packetsReceived: number;
  /** Share of expected packets that never came. */
  lossBeforeFec: number;
  /** Share of expected packets neither received nor rebuilt from the next packet's FEC. */
  lossAfterFec: number;
  /** Segmental SNR of the decoded tone against the known frequency (dB). */
  snrDb: number;
  /** E-model (G.107) estimate from lossAfterFec and delayMs. */
  mos: number;
  /** RFC 3550 interarrival jitter. */
  jitterMs: number;
  /** Mouth-to-ear estimate: the path's one-way delay (given) + jitter buffer + Opus framing and look-ahead. */
  delayMs: number;
  /** False when no FEC-capable decoder was found (concealment only; see loss-aware-decoder.ts). */
  fecAvailable: boolean;
}

export interface ReceivedPacket {
  packet: RtpPacket;
  /** Local time of arrival, ms. */
  arrivalMs: number;
}

export interface AudioAnalysisOptions {
  /** Rebuild lost packets from the next packet's FEC (default true). */
  useFec?: boolean;
  /** One-way network delay of the path, when the caller knows it (a profile's delay); default 0. */
  networkDelayMs?: number;
  /** Frames left out of the SNR at the start while the decoder settles (default 5). */
  settleFrames?: number;
  /** G.107 BurstR of the path's loss (1 for random loss). */
  burstR?: number;
}

/** Opus framing (20 ms) + encoder look-ahead (6.5 ms). */
const CODEC_DELAY_MS = OPUS_FRAME_MS + 6.5;
const MIN_JITTER_BUFFER_MS = 20;
const MS_PER_TICK = 1000 / OPUS_SAMPLE_RATE;

/** An Opus packet whose mode (TOC config < 16: SILK or hybrid) can carry FEC for the packet before. */
function canCarryFec(packet: Buffer | null): boolean {
  return packet !== null && packet.length > 1 && packet[0] >> 3 < 16;
}

/** RFC 3550 section 6.4.1, in ms, over packets in arrival order. */
export function interarrivalJitterMs(received: ReceivedPacket[], msPerTick = MS_PER_TICK): number {
  let jitter = 0;
  for (let i = 1; i < received.length; i++) {
    const transit = received[i].arrivalMs - received[i].packet.timestamp * msPerTick;
    const previous = received[i - 1].arrivalMs - received[i - 1].packet.timestamp * msPerTick;
    // Timestamps wrap at 2^32 ticks; a wrapped difference is brought back into range.
    let d = transit - previous;
    const wrap = 2 ** 32 * msPerTick;
    if (d > wrap / 2) d -= wrap;
    if (d < -wrap / 2) d += wrap;
    jitter += (Math.abs(d) - jitter) / 16;
  }
  return jitter;
}

/**
 * The stream laid out by sequence number (duplicates once, gaps as null),
 * from the first to the last packet received.
 */
export function packetsBySequence(received: ReceivedPacket[]): (Buffer | null)[] {
  if (received.length === 0) return [];
  const first = received[0].packet.sequenceNumber;
  // Extended sequence numbers, relative to the first packet heard (RTP sequence numbers wrap at 2^16).
  const offsets = new Map<number, Buffer>();
  let cycles = 0;
  let last = first;
  for (const { packet } of received) {
    const delta = (packet.sequenceNumber - last) & 0xffff;
    if (delta < 0x8000 && packet.sequenceNumber < last) cycles++;
    const extended = cycles * 0x10000 + packet.sequenceNumber - first;
    if (delta < 0x8000) last = packet.sequenceNumber;
    if (extended >= 0 && !offsets.has(extended)) offsets.set(extended, packet.payload);
  }
  const length = Math.max(...offsets.keys()) + 1;
  return Array.from({ length }, (_, i) => offsets.get(i) ?? null);
}

/** Loss, FEC recovery, tone SNR, jitter and an E-model MOS of one received Opus tone. */
export async function analyseAudioLeg(
  received: ReceivedPacket[],
  toneHz: number,
  options: AudioAnalysisOptions = {},
): Promise<AudioLegReport> {
  const { useFec = true, networkDelayMs = 0, settleFrames = 5, burstR = 1 } = options;
  const stream = packetsBySequence(received);
  const expected = stream.length;
  const got = stream.filter((p) => p !== null).length;
  const decoded = await decodeWithLoss(stream, useFec);
  const recovered = stream.filter((p, i) => p === null && decoded.sources[i] === 'fec' && canCarryFec(stream[i + 1] ?? null)).length;
  const lossBeforeFec = expected > 0 ? (expected - got) / expected : 0;
  const lossAfterFec = expected > 0 ? (expected - got - recovered) / expected : 0;
  const jitterMs = interarrivalJitterMs(received);
  const delayMs = networkDelayMs + Math.max(MIN_JITTER_BUFFER_MS, 2 * jitterMs) + CODEC_DELAY_MS;
  const r = rFactor({ mouthToEarMs: delayMs, lossPercent: lossAfterFec * 100, burstR });
  return {
    packetsExpected: expected,
    packetsReceived: got,
    lossBeforeFec,
    lossAfterFec,
    snrDb: segmentalToneSnrDb(decoded.frames.slice(settleFrames), toneHz),
    mos: mosFromR(r),
    jitterMs,
    delayMs,
    fecAvailable: decoded.fecAvailable,
  };
}
