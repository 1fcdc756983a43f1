import { spawn } from 'node:child_process';
import os from 'node:os';
import { InFlightLimit } from '../../in-flight-limit';
import { decodeOpusStream, OPUS_FRAME_SAMPLES, OpusFrameDecoder, pcmSamples } from '../opus-codec';

/** The decoder's exit status when the system has no libopus. */
const LIBOPUS_MISSING = 4;

/*
 * Decoding Opus's in-band FEC takes opus_decode(..., decode_fec = 1) on the
 * packet AFTER a lost one. opusscript cannot: its decode always passes 0,
 * and its WebAssembly build exports no opus_decode to call directly (the
 * call is inlined into its handler with the flag folded away). So a stream
 * with losses is decoded by the system's libopus (Debian's libopus0, which
 * ffmpeg brings) through Python's ctypes, one short process per analysis,
 * waited for without blocking: a simulator analyses one call while others
 * are still sending and receiving in the same process. Where that is
 * missing, opusscript decodes with concealment only and the result says FEC
 * was not available.
 */
const LIBOPUS_DECODER = `
import ctypes, ctypes.util, struct, sys
try: lib = ctypes.CDLL('libopus.so.0')
except OSError:
    name = ctypes.util.find_library('opus')
    if name is None: sys.exit(${LIBOPUS_MISSING})
    lib = ctypes.CDLL(name)
lib.opus_decoder_create.restype = ctypes.c_void_p
lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
lib.opus_decode.restype = ctypes.c_int
lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int]
frame = int(sys.argv[1]); fec = sys.argv[2] == '1'
err = ctypes.c_int()
dec = lib.opus_decoder_create(48000, 1, ctypes.byref(err))
if err.value != 0: sys.exit(3)
data = sys.stdin.buffer.read(); entries = []; i = 0
while i < len(data):
    n = struct.unpack_from('<i', data, i)[0]; i += 4
    if n < 0: entries.append(None)
    else: entries.append(data[i:i+n]); i += n
pcm = (ctypes.c_int16 * frame)(); out = sys.stdout.buffer; kinds = bytearray()
for k, p in enumerate(entries):
    nxt = entries[k + 1] if k + 1 < len(entries) else None
    if p is not None: r = lib.opus_decode(dec, p, len(p), pcm, frame, 0); kind = 0
    elif fec and nxt is not None: r = lib.opus_decode(dec, nxt, len(nxt), pcm, frame, 1); kind = 1
    else: r = lib.opus_decode(dec, None, 0, pcm, frame, 0); kind = 2
    if r != frame: ctypes.memset(pcm, 0, frame * 2); kind = 3
    out.write(bytes(pcm)); kinds.append(kind)
sys.stderr.buffer.write(bytes(kinds))
`;

/** How each position of the stream was decoded. */
export type FrameSource = 'packet' | 'fec' | 'concealed' | 'failed';
const SOURCES: FrameSource[] = ['packet', 'fec', 'concealed', 'failed'];

export interface LossAwareDecode {
  /** One 20 ms frame per position, lost ones recovered or concealed. */
  frames: Int16Array[];
  sources: FrameSource[];
  /** Whether libopus with FEC decoding was used (false: opusscript with concealment only). */
  fecAvailable: boolean;
}

/** False once libopus (or Python) turned out missing here: then opusscript decodes every stream. */
let libopusUsable = true;

/**
 * Decoder children running at once. A simulator judges each call's legs as
 * it hangs up; beyond the cores more children only wait for CPU, each
 * holding its own memory, and hundreds ending together could exhaust them.
 */
const decoders = new InFlightLimit(Math.max(1, os.availableParallelism()));

/**
 * Decodes a stream in which `null` marks a lost packet. With `useFec` a lost
 * packet whose next one arrived is rebuilt from that packet's FEC data; any
 * other lost packet is concealed (PLC).
 */
export async function decodeWithLoss(packets: (Buffer | null)[], useFec: boolean): Promise<LossAwareDecode> {
  if (libopusUsable) {
    const result = await decoders.run(() => decodeWithLibopus(packets, useFec));
    if (result === 'missing') libopusUsable = false;
    // A child that failed otherwise (out of processes or memory for a moment) costs this stream its FEC, not later ones.
    else if (result !== 'failed') return result;
  }
  return decodeWithOpusscript(packets);
}

async function decodeWithLibopus(packets: (Buffer | null)[], useFec: boolean): Promise<LossAwareDecode | 'missing' | 'failed'> {
  const input = Buffer.concat(
    packets.flatMap((p) => {
      const length = Buffer.alloc(4);
      length.writeInt32LE(p ? p.length : -1);
      return p ? [length, p] : [length];
    }),
  );
  const run = await runWithInput('python3', ['-c', LIBOPUS_DECODER, String(OPUS_FRAME_SAMPLES), useFec ? '1' : '0'], input);
  if (run.status === LIBOPUS_MISSING || run.spawnError === 'ENOENT') return 'missing';
  const pcm = run.stdout;
  if (run.status !== 0 || pcm.length !== packets.length * OPUS_FRAME_SAMPLES * 2) return 'failed';
  // One copy of the whole stream; each frame is a view of its part.
  const samples = pcmSamples(pcm, 0, packets.length * OPUS_FRAME_SAMPLES);
  const frames = packets.map((_, i) => samples.subarray(i * OPUS_FRAME_SAMPLES, (i + 1) * OPUS_FRAME_SAMPLES));
  return { frames, sources: [...run.stderr.subarray(0, packets.length)].map((k) => SOURCES[k] ?? 'failed'), fecAvailable: true };
}

/** Runs a program with `input` on its stdin; its exit status (null: it could not run, for `spawnError`) and outputs. */
function runWithInput(
  command: string,
  args: string[],
  input: Buffer,
): Promise<{ status: number | null; spawnError?: string; stdout: Buffer; stderr: Buffer }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A program that is missing or exits early: its stdin's error is the exit's to report.
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ status: null, spawnError: err.code, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }),
    );
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }));
    child.stdin.end(input);
  });
}

let plcDecoder: OpusFrameDecoder | undefined;

function decodeWithOpusscript(packets: (Buffer | null)[]): LossAwareDecode {
  // One decoder for the process, reset per stream (see opus-codec.ts on why codecs are never made per stream).
  plcDecoder ??= new OpusFrameDecoder(1);
  plcDecoder.reset();
  const sources: FrameSource[] = [];
  const frames = packets.map((packet) => {
    try {
      // An empty packet asks libopus for concealment; opusscript asks for its largest frame, so keep the first 20 ms.
      const pcm = plcDecoder!.decode(packet ?? Buffer.alloc(0)).subarray(0, OPUS_FRAME_SAMPLES);
      sources.push(packet ? 'packet' : 'concealed');
      return Int16Array.from(pcm);
    } catch {
      sources.push('failed');
      return new Int16Array(OPUS_FRAME_SAMPLES);
    }
  });
  return { frames, sources, fecAvailable: false };
}

/** For specs: the decoder opusscript offers, without loss handling. */
export const decodeLossless = decodeOpusStream;
