import { OPUS_SAMPLE_RATE } from '../opus-codec';

/**
 * How cleanly a decoded signal carries a tone of known frequency: the
 * least-squares fit a·sin(ωn) + b·cos(ωn) over the whole signal (one phase
 * and amplitude: concealment that drifts off the tone counts as noise), then
 * 10·log10(fit energy / residual energy).
 */
export function toneSnrDb(samples: ArrayLike<number>, frequencyHz: number, sampleRate = OPUS_SAMPLE_RATE): number {
  const w = (2 * Math.PI * frequencyHz) / sampleRate;
  let ss = 0;
  let cc = 0;
  let sc = 0;
  let xs = 0;
  let xc = 0;
  for (let n = 0; n < samples.length; n++) {
    const s = Math.sin(w * n);
    const c = Math.cos(w * n);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    xs += samples[n] * s;
    xc += samples[n] * c;
  }
  const det = ss * cc - sc * sc;
  if (samples.length === 0 || det === 0) return -Infinity;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let signal = 0;
  let noise = 0;
  for (let n = 0; n < samples.length; n++) {
    const fit = a * Math.sin(w * n) + b * Math.cos(w * n);
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
