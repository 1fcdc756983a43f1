/**
 * Mean opinion score from the ITU-T G.107 E-model, reduced to what a
 * receiver measures: packet loss (and how bursty it is), one-way delay and
 * jitter. Codec constants are for Opus with packet-loss concealment.
 */
export interface VoiceQualityInput {
  /** Share of packets lost, 0..1. */
  lossRatio: number;
  /** Mean length of a run of lost packets (1 when every loss was alone). */
  meanBurstPackets: number;
  /** One-way network delay, ms. */
  delayMs: number;
  /** Interarrival jitter, ms (a jitter buffer of twice this adds to the delay). */
  jitterMs: number;
}

/** Opus equipment impairment and loss robustness (Bpl) with concealment. */
const OPUS_IE = 0;
const OPUS_BPL = 20;
/** Frame, look-ahead and decoding: what the codec adds to mouth-to-ear delay. */
const CODEC_DELAY_MS = 27;
const R0_MINUS_IS = 93.2;

export function rFactor(input: VoiceQualityInput): number {
  const ppl = Math.min(100, Math.max(0, input.lossRatio * 100));
  // BurstR: observed burst length over that of random loss at the same rate (1 = random).
  const randomBurst = 1 / Math.max(1e-9, 1 - Math.min(input.lossRatio, 0.99));
  const burstR = Math.max(1, input.meanBurstPackets / randomBurst);
  const ieEff = OPUS_IE + (95 - OPUS_IE) * (ppl / (ppl / burstR + OPUS_BPL));
  const ta = Math.max(0, input.delayMs) + 2 * Math.max(0, input.jitterMs) + CODEC_DELAY_MS;
  const id = 0.024 * ta + (ta > 177.3 ? 0.11 * (ta - 177.3) : 0);
  return Math.max(0, Math.min(100, R0_MINUS_IS - id - ieEff));
}

/** G.107's mapping of R to MOS (1 .. 4.5). */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

export function estimateMos(input: VoiceQualityInput): number {
  return Math.round(mosFromR(rFactor(input)) * 100) / 100;
}
