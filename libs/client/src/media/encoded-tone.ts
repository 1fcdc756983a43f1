import { decodeOpusStream, encodeOpusStream, OpusEncoderSettings } from './opus-codec';
import { toneEnergyShare, ToneGenerator } from './tone';

/**
 * 5 s of tone. Any whole-hertz tone has a whole number of cycles in 5 s, so
 * the loop joins without a click and a longer tone just repeats it.
 */
export const TONE_LOOP_FRAMES = 250;

/**
 * A tone encoded to Opus once per process and replayed by every stream
 * that sends it: sending costs no codec work, and because an SFU forwards
 * Opus payloads byte for byte, a receiver can tell each packet of this tone
 * by its bytes alone.
 */
export class EncodedTone {
  private static readonly cache = new Map<string, EncodedTone>();
  private readonly indexByPayload = new Map<string, number>();

  private constructor(
    readonly frequencyHz: number,
    readonly amplitude: number,
    readonly packets: Buffer[],
    readonly settings: OpusEncoderSettings = {},
  ) {
    packets.forEach((packet, i) => {
      const key = packet.toString('latin1');
      if (!this.indexByPayload.has(key)) this.indexByPayload.set(key, i);
    });
  }

  /** `settings`: e.g. in-band FEC (`{ fecLossPercent: 10 }`); each set of settings is its own encoding. */
  static of(frequencyHz: number, amplitude = 0.3, settings: OpusEncoderSettings = {}): EncodedTone {
    if (!Number.isInteger(frequencyHz) || frequencyHz <= 0) throw new RangeError('a tone here has a whole number of hertz');
    const key = `${frequencyHz}:${amplitude}:${settings.bitrate ?? 'auto'}:${settings.fecLossPercent ?? 'nofec'}`;
    let tone = EncodedTone.cache.get(key);
    if (!tone) {
      const generator = new ToneGenerator(frequencyHz, amplitude);
      const pcm = Array.from({ length: TONE_LOOP_FRAMES }, () => generator.nextFrame());
      tone = new EncodedTone(frequencyHz, amplitude, encodeOpusStream(pcm, settings), settings);
      EncodedTone.cache.set(key, tone);
    }
    return tone;
  }

  /** The payload of frame `n` of the tone (looping). */
  packet(n: number): Buffer {
    return this.packets[n % this.packets.length];
  }

  /** Whether `payload` is, byte for byte, one of this tone's packets. */
  contains(payload: Buffer): boolean {
    return this.indexByPayload.has(payload.toString('latin1'));
  }
}

export interface ToneCheckOptions {
  /** Share of the sent packets that must arrive as this tone's exact bytes. */
  passShare?: number;
  /** Frames decoded from the start of the leg to prove it sounds like the tone. */
  decodeFrames?: number;
  /** Frames the decoder may take to settle before they count. */
  settleFrames?: number;
  /** Share of a decoded frame's energy that must sit at the tone's frequency. */
  minEnergyShare?: number;
}

export interface ToneCheck {
  expected: number;
  received: number;
  /** Received packets identical to a packet of the tone. */
  exact: number;
  decoded: number;
  /** Decoded frames whose energy sits mostly at the tone's frequency. */
  decodedMatching: number;
  passed: boolean;
}

/**
 * Checks one leg of a call: (1) at least `passShare` of the `expected`
 * packets arrived as this tone's exact bytes, so nothing was lost, swapped
 * with the other leg or corrupted; (2) the first `decodeFrames` of them,
 * decoded, sound like the tone, so the bytes really are that tone's Opus.
 * Decoding a window rather than every packet keeps the check cheap at
 * hundreds of calls, and the byte match covers the rest.
 */
export function checkTone(payloads: Buffer[], tone: EncodedTone, expected: number, options: ToneCheckOptions = {}): ToneCheck {
  const { passShare = 0.9, decodeFrames = 10, settleFrames = 3, minEnergyShare = 0.8 } = options;
  const exact = payloads.reduce((n, p) => n + Number(tone.contains(p)), 0);
  const decodedFrames = decodeOpusStream(payloads.slice(0, settleFrames + decodeFrames)).slice(settleFrames);
  const decodedMatching = decodedFrames.filter((pcm) => pcm !== null && toneEnergyShare(pcm, tone.frequencyHz) >= minEnergyShare).length;
  const windowNeeded = Math.min(decodeFrames, Math.max(0, Math.ceil(passShare * expected) - settleFrames));
  const passed =
    expected > 0 &&
    exact >= passShare * expected &&
    decodedFrames.length >= windowNeeded &&
    decodedMatching >= passShare * decodedFrames.length;
  return { expected, received: payloads.length, exact, decoded: decodedFrames.length, decodedMatching, passed };
}
