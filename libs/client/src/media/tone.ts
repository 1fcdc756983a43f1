import { OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE } from './opus-codec';

/** A continuous sine tone cut into frames (the phase carries over, so frames join without clicks). */
export class ToneGenerator {
  private phase = 0;

  constructor(
    readonly frequencyHz: number,
    readonly amplitude = 0.3,
    readonly sampleRate = OPUS_SAMPLE_RATE,
  ) {}

  nextFrame(samples = OPUS_FRAME_SAMPLES): Int16Array {
    const frame = new Int16Array(samples);
    const step = (2 * Math.PI * this.frequencyHz) / this.sampleRate;
    for (let i = 0; i < samples; i++) {
      frame[i] = Math.round(this.amplitude * 32767 * Math.sin(this.phase));
      this.phase += step;
    }
    this.phase %= 2 * Math.PI;
    return frame;
  }
}

/** Goertzel: the signal's power at one frequency, without a full FFT. */
export function goertzelPower(samples: ArrayLike<number>, frequencyHz: number, sampleRate = OPUS_SAMPLE_RATE): number {
  const coeff = 2 * Math.cos((2 * Math.PI * frequencyHz) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

export interface FrequencyScan {
  minHz?: number;
  maxHz?: number;
  stepHz?: number;
  sampleRate?: number;
  /** Below this RMS (16-bit scale) the frame counts as silence. */
  silenceRms?: number;
}

/** The strongest frequency of a frame, scanning a range; null for silence. */
export function dominantFrequency(samples: ArrayLike<number>, scan: FrequencyScan = {}): number | null {
  const { minHz = 100, maxHz = 2000, stepHz = 10, sampleRate = OPUS_SAMPLE_RATE, silenceRms = 100 } = scan;
  let energy = 0;
  for (let i = 0; i < samples.length; i++) energy += samples[i] * samples[i];
  if (samples.length === 0 || Math.sqrt(energy / samples.length) < silenceRms) return null;
  let best = minHz;
  let bestPower = -1;
  for (let f = minHz; f <= maxHz; f += stepHz) {
    const power = goertzelPower(samples, f, sampleRate);
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}

/**
 * Share of a frame's energy that sits at one frequency (Goertzel bin against
 * the whole frame, Parseval): about 1 for a clean tone at that frequency,
 * near 0 for another tone or noise, 0 for silence. One pass per frame,
 * where `dominantFrequency` takes one per frequency scanned.
 */
export function toneEnergyShare(samples: ArrayLike<number>, frequencyHz: number, sampleRate = OPUS_SAMPLE_RATE): number {
  let energy = 0;
  for (let i = 0; i < samples.length; i++) energy += samples[i] * samples[i];
  if (energy === 0) return 0;
  return goertzelPower(samples, frequencyHz, sampleRate) / ((energy * samples.length) / 2);
}
