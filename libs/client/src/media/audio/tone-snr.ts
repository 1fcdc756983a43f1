import { OPUS_SAMPLE_RATE } from '../opus-codec';

/** sin(ωn) and cos(ωn) for n = 0…length-1, with their sums of squares and cross products. */
interface ToneBasis {
  sin: Float64Array;
  cos: Float64Array;
  ss: number;
  cc: number;
  sc: number;
}

const BASES = new Map<string, ToneBasis>();
const MAX_BASES = 16;

/**
 * The basis of a tone over `length` samples. Every 20 ms frame of a stream
 * is fitted from n = 0, so one basis serves them all: the fit needs no
 * trigonometry per sample (it dominated a call's analysis).
 */
function toneBasis(frequencyHz: number, sampleRate: number, length: number): ToneBasis {
  const key = `${frequencyHz}/${sampleRate}/${length}`;
  let basis = BASES.get(key);
  if (basis) return basis;
  const w = (2 * Math.PI * frequencyHz) / sampleRate;
  const sin = new Float64Array(length);
  const cos = new Float64Array(length);
  let ss = 0;
  let cc = 0;
  let sc = 0;
  for (let n = 0; n < length; n++) {
    sin[n] = Math.sin(w * n);
    cos[n] = Math.cos(w * n);
    ss += sin[n] * sin[n];
    cc += cos[n] * cos[n];
    sc += sin[n] * cos[n];
  }
  basis = { sin, cos, ss, cc, sc };
  // Bounded: a whole stream's length is fitted once, frames share one length.
  if (BASES.size >= MAX_BASES) BASES.delete(BASES.keys().next().value!);
  BASES.set(key, basis);
  return basis;
}

/**
 * How cleanly a decoded signal carries a tone of known frequency: the
 * least-squares fit a·sin(ωn) + b·cos(ωn) over the whole signal (one phase
 * and amplitude: concealment that drifts off the tone counts as noise), then
 * 10·log10(fit energy / residual energy).
 */
export function toneSnrDb(samples: ArrayLike<number>, frequencyHz: number, sampleRate = OPUS_SAMPLE_RATE): number {
  if (samples.length === 0) return -Infinity;
  const { sin, cos, ss, cc, sc } = toneBasis(frequencyHz, sampleRate, samples.length);
  let xs = 0;
  let xc = 0;
  for (let n = 0; n < samples.length; n++) {
    xs += samples[n] * sin[n];
    xc += samples[n] * cos[n];
  }
  const det = ss * cc - sc * sc;
  if (det === 0) return -Infinity;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let signal = 0;
  let noise = 0;
  for (let n = 0; n < samples.length; n++) {
    const fit = a * sin[n] + b * cos[n];
    signal += fit * fit;
    noise += (samples[n] - fit) ** 2;
  }
  if (signal === 0) return -Infinity;
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/** Per-frame SNRs are clamped to this range before averaging, as segmental SNR usually is. */
export const SEGMENT_SNR_FLOOR_DB = -10;
export const SEGMENT_SNR_CEILING_DB = 35;

/**
 * Segmental SNR: the mean over 20 ms frames of each frame's tone SNR
 * (clamped). A concealed frame that drifts off the tone scores low on its
 * own, without one bad moment swamping the whole stream's single fit.
 */
export function segmentalToneSnrDb(frames: ArrayLike<number>[], frequencyHz: number, sampleRate = OPUS_SAMPLE_RATE): number {
  if (frames.length === 0) return SEGMENT_SNR_FLOOR_DB;
  let sum = 0;
  for (const frame of frames) {
    const snr = toneSnrDb(frame, frequencyHz, sampleRate);
    sum += Math.min(SEGMENT_SNR_CEILING_DB, Math.max(SEGMENT_SNR_FLOOR_DB, Number.isNaN(snr) ? SEGMENT_SNR_FLOOR_DB : snr));
  }
  return sum / frames.length;
}
