import os from 'node:os';
import OpusScript from 'opusscript';

export const OPUS_SAMPLE_RATE = 48_000;
export const OPUS_FRAME_MS = 20;
/** Samples per channel in one 20 ms frame at 48 kHz; also the RTP timestamp step. */
export const OPUS_FRAME_SAMPLES = (OPUS_SAMPLE_RATE * OPUS_FRAME_MS) / 1000;

/** libopus' OPUS_RESET_STATE request: back to a freshly initialised codec. */
const OPUS_RESET_STATE = 4028;
/** libopus encoder requests (opus_defines.h). */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_AUTO = -1000;

/** How the encoder is set for one stream. */
export interface OpusEncoderSettings {
  /** Bits per second (default: libopus chooses). */
  bitrate?: number;
  /**
   * In-band FEC: each packet also carries a coarse copy of the one before,
   * sized for this expected loss in percent (libopus adds it only when told
   * some loss is expected). Off when undefined.
   */
  fecLossPercent?: number;
}

/*
 * Every OpusScript instance allocates from one WebAssembly heap per process
 * and keeps typed-array views into it taken at construction. When a later
 * allocation grows that heap, the views of the instances made before it are
 * detached ("offset is out of bounds", then "memory access out of bounds" in
 * delete, or garbage samples reaching the encoder). So this module never
 * makes codecs per stream: the process keeps one encoder and one decoder,
 * made once and never deleted, and callers use them synchronously (nothing
 * else can run between a reset and the frames that follow it).
 */

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

  /** Forgets earlier frames, so the next packets are the same as from a new encoder, and applies `settings`. */
  reset(settings: OpusEncoderSettings = {}): void {
    this.opus.encoderCTL(OPUS_RESET_STATE, 0);
    this.opus.encoderCTL(OPUS_SET_BITRATE, settings.bitrate ?? OPUS_AUTO);
    this.opus.encoderCTL(OPUS_SET_INBAND_FEC, settings.fecLossPercent === undefined ? 0 : 1);
    this.opus.encoderCTL(OPUS_SET_PACKET_LOSS_PERC, settings.fecLossPercent ?? 0);
  }

  close(): void {
    this.opus.delete();
  }
}

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/**
 * `samples` 16-bit little-endian PCM samples of `bytes` from `byteOffset`,
 * copied into their own array: one byte copy on a little-endian host, not
 * a read call per sample (a leg's report decodes minutes of audio).
 */
export function pcmSamples(bytes: Buffer, byteOffset: number, samples: number): Int16Array {
  const out = new Int16Array(samples);
  if (LITTLE_ENDIAN_HOST) {
    bytes.copy(new Uint8Array(out.buffer), 0, byteOffset, byteOffset + samples * 2);
  } else {
    for (let i = 0; i < samples; i++) out[i] = bytes.readInt16LE(byteOffset + i * 2);
  }
  return out;
}

export class OpusFrameDecoder {
  private readonly opus: OpusScript;

  constructor(readonly channels: 1 | 2 = 1) {
    this.opus = new OpusScript(OPUS_SAMPLE_RATE, channels, OpusScript.Application.VOIP);
  }

  /** 16-bit PCM (interleaved when stereo); throws on a packet that is not Opus. */
  decode(packet: Buffer): Int16Array {
    const bytes = this.opus.decode(packet);
    return pcmSamples(bytes, 0, bytes.length / 2);
  }

  /** Forgets earlier packets, as if this were a new decoder. */
  reset(): void {
    this.opus.decoderCTL(OPUS_RESET_STATE, 0);
  }

  close(): void {
    this.opus.delete();
  }
}

let sharedEncoder: OpusFrameEncoder | undefined;
let sharedDecoder: OpusFrameDecoder | undefined;

/**
 * Encodes `frames` as one stream from a fresh encoder state, on the
 * process's single mono encoder.
 */
export function encodeOpusStream(frames: Int16Array[], settings?: OpusEncoderSettings): Buffer[] {
  sharedEncoder ??= new OpusFrameEncoder(1);
  sharedEncoder.reset(settings);
  return frames.map((frame) => sharedEncoder!.encode(frame));
}

/**
 * Decodes `packets` as one stream from a fresh decoder state, on the
 * process's single mono decoder; a packet that is not Opus gives null.
 */
export function decodeOpusStream(packets: Buffer[]): (Int16Array | null)[] {
  sharedDecoder ??= new OpusFrameDecoder(1);
  sharedDecoder.reset();
  return packets.map((packet) => {
    try {
      return sharedDecoder!.decode(packet);
    } catch {
      return null;
    }
  });
}
