/**
 * Body of one RTP load-generator thread: sends Opus-sized RTP packets at
 * 50/s per stream from one UDP socket, receives the relayed packets on the
 * same socket, and counts per stream. Packets carry their stream index and
 * send time in the payload, which an SFU forwards untouched.
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { LATENCY_BUCKET_MS, PACKET_INTERVAL_MS } from './rtp-packet-format';

interface StreamSpec {
  /** Index of the stream in this run; written into each packet. */
  index: number;
  destPort: number;
  ssrc: number;
  payloadType: number;
}

export interface RunCommand {
  type: 'run';
  streams: StreamSpec[];
  warmupMs: number;
  durationMs: number;
  drainMs: number;
}

export interface RunReport {
  type: 'done';
  sent: number[];
  received: number[];
  /** One bucket per 0.1 ms of one-way latency, measured after warm-up. */
  latencyBuckets: number[];
  lateSends: number;
}

const LATENCY_BUCKETS = 20_000; // up to 2 s
const PAYLOAD_BYTES = 80; // ~32 kbit/s Opus, 20 ms frames
const HEADER_BYTES = 12;
const now = () => Number(process.hrtime.bigint()) / 1e6;

const socket = dgram.createSocket({
  type: 'udp4',
  recvBufferSize: workerData.recvBufferBytes,
  sendBufferSize: workerData.sendBufferBytes,
});

let received: number[] = [];
let buckets = new Array<number>(LATENCY_BUCKETS).fill(0);
let measuring = false;
let streamCount = 0;

socket.on('message', (msg) => {
  if (msg.length < HEADER_BYTES + 13) return;
  const pt = msg[1] & 0x7f;
  if (pt >= 64 && pt <= 95) return; // RTCP (SR/RR) multiplexed on the same port
  // The SFU may add header extensions: find where the payload starts.
  let offset = HEADER_BYTES + (msg[0] & 0x0f) * 4;
  if (msg[0] & 0x10) offset += 4 + msg.readUInt16BE(offset + 2) * 4;
  if (msg.length < offset + 13) return;
  const index = msg.readUInt32BE(offset + 1);
  if (index >= streamCount) return;
  received[index]++;
  if (measuring) {
    const ms = now() - msg.readDoubleBE(offset + 5);
    buckets[Math.min(LATENCY_BUCKETS - 1, Math.max(0, Math.floor(ms / LATENCY_BUCKET_MS)))]++;
  }
});

function run(cmd: RunCommand): void {
  const n = cmd.streams.length;
  streamCount = n;
  received = new Array(n).fill(0);
  buckets = new Array<number>(LATENCY_BUCKETS).fill(0);
  const sent = new Array<number>(n).fill(0);
  const packets = cmd.streams.map((s) => {
    const p = Buffer.alloc(HEADER_BYTES + PAYLOAD_BYTES);
    p[0] = 0x80;
    p[1] = s.payloadType & 0x7f;
    p.writeUInt32BE(s.ssrc >>> 0, 8);
    p[HEADER_BYTES] = 0x78; // an Opus TOC byte: CELT fullband, 20 ms, one frame
    p.writeUInt32BE(s.index, HEADER_BYTES + 1);
    return p;
  });
  const start = now();
  // Streams start spread over one packet interval so sends are not one burst.
  const due = cmd.streams.map((_, i) => start + (i / n) * PACKET_INTERVAL_MS);
  const sendUntil = start + cmd.warmupMs + cmd.durationMs;
  let lateSends = 0;
  setTimeout(() => (measuring = true), cmd.warmupMs);
  const tick = () => {
    const t = now();
    if (t >= sendUntil) {
      clearInterval(timer);
      setTimeout(() => {
        measuring = false;
        const report: RunReport = { type: 'done', sent, received, latencyBuckets: buckets, lateSends };
        parentPort!.postMessage(report);
      }, cmd.drainMs);
      return;
    }
    for (let i = 0; i < n; i++) {
      if (due[i] > t) continue;
      if (t - due[i] > PACKET_INTERVAL_MS) lateSends++;
      // A fresh copy per send: the socket may still hold the previous one.
      const p = Buffer.from(packets[i]);
      const seq = sent[i];
      p.writeUInt16BE(seq & 0xffff, 2);
      p.writeUInt32BE((seq * 960) >>> 0, 4);
      p.writeDoubleBE(now(), HEADER_BYTES + 5);
      socket.send(p, cmd.streams[i].destPort, '127.0.0.1');
      sent[i]++;
      due[i] += PACKET_INTERVAL_MS;
    }
  };
  const timer = setInterval(tick, 2);
}

socket.bind(0, '127.0.0.1', () => {
  parentPort!.postMessage({ type: 'ready', port: socket.address().port });
});
parentPort!.on('message', (m: RunCommand | { type: 'close' }) => {
  if (m.type === 'run') run(m);
  else socket.close(() => process.exit(0));
});
