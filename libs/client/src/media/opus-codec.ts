import OpusScript from 'opusscript';

export const OPUS_SAMPLE_RATE = 48_000;
export const OPUS_FRAME_MS = 20;
/** Samples per channel in one 20 ms frame at 48 kHz; also the RTP timestamp step. */
export const OPUS_FRAME_SAMPLES = (OPUS_SAMPLE_RATE * OPUS_FRAME_MS) / 1000;

/** Real Opus (libopus compiled to JS): 16-bit PCM frames in, packets out. */
export class OpusFrameEncoder {
  private readonly opus: OpusScript;

  constructor(readonly channels: 1 | 2 = 1) {
    this.opus = new OpusScript(OPUS_SAMPLE_RATE, channels, OpusScript.Application.VOIP);
  }

  /** One 20 ms frame (OPUS_FRAME_SAMPLES × channels samples, interleaved). */
  encode(pcm: Int16Array): Buffer {
    if (pcm.length !== OPUS_FRAME_SAMPLES * this.channels) {
      throw new RangeError(`an Opus frame here is ${OPUS_FRAME_SAMPLES * this.channels} samples`);
    }
    return this.opus.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), OPUS_FRAME_SAMPLES);
  }

  close(): void {
    this.opus.delete();
  }
}

export class OpusFrameDecoder {
  private readonly opus: OpusScript;

  constructor(readonly channels: 1 | 2 = 1) {
    this.opus = new OpusScript(OPUS_SAMPLE_RATE, channels, OpusScript.Application.VOIP);
  }

  /** 16-bit PCM (interleaved when stereo); throws on a packet that is not Opus. */
  decode(packet: Buffer): Int16Array {
    const bytes = this.opus.decode(packet);
    const copy = new Int16Array(bytes.length / 2);
    for (let i = 0; i < copy.length; i++) copy[i] = bytes.readInt16LE(i * 2);
    return copy;
  }

  close(): void {
    this.opus.delete();
  }
}
