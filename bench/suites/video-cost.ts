import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import {
  EncodedTone,
  FramePacer,
  OPUS_FRAME_MS,
  OPUS_FRAME_SAMPLES,
  plainRtpParameters,
  rtpHeader,
  sleep,
  SocialClient,
  VideoClip,
} from '@app/client';
import { clipBitrate, clipFramePayloads, loadExperimentClip } from '../../apps/sim/src/experiment/clip-video';
import { ParticipantMedia } from '../../apps/sim/src/experiment/participant-media';
import { befriend, disconnectAll, inBatches, loginUsers } from '../support/bench-users';
import { newSsrc } from '../support/call-topology';
import { startBenchGateway } from '../support/gateway-process';
import { round } from '../support/latency-samples';
import { CpuMeter } from '../support/process-usage';

/** What a call of one kind costs: the SFU worker's CPU per call-second and the bytes it moves per call-minute. */
export interface CallCost {
  calls: number;
  seconds: number;
  workerCores: number;
  workerCpuUsPerCallSecond: number;
  /** Bytes the clients sent and received (RTP header and payload), per call-minute. */
  bytesPerCallMinute: number;
  packetsPerSecond: number;
  /** Share of the packets sent that did not arrive. */
  lossRatio: number;
}

export interface KindPair {
  voice: CallCost;
  video: CallCost;
  /** video over voice. */
  cpuRatio: number;
  bytesRatio: number;
}

export interface VideoCostResult {
  options: VideoCostOptions;
  /** The clip video calls send: the simulator's experiment clip. */
  video: { fps: number; width: number; height: number; approxKbps: number };
  bare: KindPair;
  gateway: KindPair | { unavailable: string };
}

export interface VideoCostOptions {
  calls: number;
  warmupMs: number;
  measureMs: number;
}

const TONE_HZ = 440;
const ROUTER_CODECS: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

const pair = (voice: CallCost, video: CallCost): KindPair => ({
  voice,
  video,
  cpuRatio: round(video.workerCpuUsPerCallSecond / voice.workerCpuUsPerCallSecond, 2),
  bytesRatio: round(video.bytesPerCallMinute / voice.bytesPerCallMinute, 2),
});

function cost(calls: number, seconds: number, cores: number, bytes: number, sent: number, received: number): CallCost {
  return {
    calls,
    seconds: round(seconds, 1),
    workerCores: round(cores, 3),
    workerCpuUsPerCallSecond: round((cores * 1e6) / calls, 1),
    bytesPerCallMinute: Math.round(bytes / calls / (seconds / 60)),
    packetsPerSecond: Math.round(received / seconds),
    lossRatio: sent > 0 ? round(Math.max(0, 1 - received / sent), 5) : 0,
  };
}

/**
 * Voice calls and video calls side by side, N of each in turn: the SFU
 * worker's CPU per call-second and the bytes per call-minute, first on a
 * bare mediasoup worker (the objects the gateway makes, made directly),
 * then through a gateway process with the simulator's experiment clients
 * (Opus tone, checkable VP8 at the experiment's rate, a clean network).
 */
export async function runVideoCostBench(o: VideoCostOptions, log: (s: string) => void): Promise<VideoCostResult> {
  const clip = loadExperimentClip();
  const approxKbps = Math.round(clipBitrate(clip) / 1000);
  log(`video cost: ${o.calls} voice calls, then ${o.calls} video calls (VP8 ~${approxKbps} kbit/s each way), bare worker`);
  const bareVoice = await bareRun(o, false, clip);
  log(`  bare voice: ${JSON.stringify(bareVoice)}`);
  const bareVideo = await bareRun(o, true, clip);
  log(`  bare video: ${JSON.stringify(bareVideo)}`);
  let gateway: VideoCostResult['gateway'];
  try {
    log('video cost through the gateway');
    const gwVoice = await gatewayRun(o, false, clip);
    log(`  gateway voice: ${JSON.stringify(gwVoice)}`);
    const gwVideo = await gatewayRun(o, true, clip);
    log(`  gateway video: ${JSON.stringify(gwVideo)}`);
    gateway = pair(gwVoice, gwVideo);
  } catch (err) {
    gateway = { unavailable: String((err as Error).message ?? err) };
    log(`  gateway run failed: ${(err as Error).stack}`);
  }
  return {
    options: o,
    video: { fps: clip.fps, width: clip.width, height: clip.height, approxKbps },
    bare: pair(bareVoice, bareVideo),
    gateway,
  };
}

/** One bare worker, N calls of one kind, every stream sent from this process. */
async function bareRun(o: VideoCostOptions, video: boolean, clip: VideoClip): Promise<CallCost> {
  const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 30000, rtcMaxPort: 34999 });
  const sockets: dgram.Socket[] = [];
  let sent = 0;
  let sentBytes = 0;
  let received = 0;
  let receivedBytes = 0;
  let counting = false;
  const senders: { kind: 'audio' | 'video'; socket: dgram.Socket; port: number; ssrc: number; payloadType: number }[] = [];
  try {
    for (let c = 0; c < o.calls; c++) {
      const router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
      const producers: { kind: 'audio' | 'video'; id: string }[][] = [];
      for (let side = 0; side < 2; side++) {
        const mine: { kind: 'audio' | 'video'; id: string }[] = [];
        for (const kind of video ? (['audio', 'video'] as const) : (['audio'] as const)) {
          const send = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: true });
          const ssrc = newSsrc();
          const rtpParameters = plainRtpParameters(kind, ssrc) as unknown as ms.RtpParameters;
          const producer = await send.produce({ kind, rtpParameters });
          const socket = dgram.createSocket('udp4');
          await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
          sockets.push(socket);
          senders.push({ kind, socket, port: send.tuple.localPort, ssrc, payloadType: rtpParameters.codecs[0].payloadType });
          mine.push({ kind, id: producer.id });
        }
        producers.push(mine);
      }
      // Each side receives the other's streams on a socket of its own.
      for (let side = 0; side < 2; side++) {
        for (const p of producers[1 - side]) {
          const recv = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: false });
          const socket = dgram.createSocket('udp4');
          await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
          socket.on('message', (m) => {
            if (!counting || (m[1] >= 192 && m[1] <= 223)) return; // RTCP
            received++;
            receivedBytes += m.length;
          });
          sockets.push(socket);
          await recv.connect({ ip: '127.0.0.1', port: socket.address().port });
          await recv.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities, paused: false });
        }
      }
    }
    const totalMs = o.warmupMs + o.measureMs;
    const tone = EncodedTone.of(TONE_HZ);
    const step = Math.round(90_000 / clip.fps);
    const running = senders.map(
      (s) =>
        new Promise<void>((resolve) => {
          let seq = Math.floor(Math.random() * 0xffff);
          let ts = 0;
          const out = (payload: Buffer, marker: boolean) => {
            seq = (seq + 1) & 0xffff;
            const header = rtpHeader({ payloadType: s.payloadType, sequenceNumber: seq, timestamp: ts, ssrc: s.ssrc, marker });
            if (counting) {
              sent++;
              sentBytes += header.length + payload.length;
            }
            s.socket.send([header, payload], s.port, '127.0.0.1');
          };
          FramePacer.shared.start(
            s.kind === 'audio'
              ? {
                  frames: Math.round(totalMs / OPUS_FRAME_MS),
                  frameMs: OPUS_FRAME_MS,
                  sendFrame: (n) => {
                    ts = (ts + OPUS_FRAME_SAMPLES) >>> 0;
                    out(tone.packet(n), n === 0);
                  },
                  finished: resolve,
                }
              : {
                  frames: Math.round(totalMs / clip.frameMs),
                  frameMs: clip.frameMs,
                  sendFrame: (n) => {
                    ts = (ts + step) >>> 0;
                    const payloads = clipFramePayloads(clip, n);
                    payloads.forEach((p, i) => out(p, i === payloads.length - 1));
                  },
                  finished: resolve,
                },
          );
        }),
    );
    await sleep(o.warmupMs);
    counting = true;
    const meter = new CpuMeter([worker.pid]).start();
    const started = performance.now();
    await sleep(o.measureMs);
    const cores = meter.stop()[worker.pid];
    const seconds = (performance.now() - started) / 1000;
    counting = false;
    await Promise.all(running);
    return cost(o.calls, seconds, cores, sentBytes + receivedBytes, sent, received);
  } finally {
    for (const s of sockets) s.close();
    worker.close();
  }
}

/** A gateway process, N calls of one kind between fresh friends, the experiment's clients on a clean network. */
async function gatewayRun(o: VideoCostOptions, video: boolean, clip: VideoClip): Promise<CallCost> {
  const gw = await startBenchGateway({ MEDIA_WORKERS: '1', CALL_QUALITY_INTERVAL_MS: '0' });
  const adminToken = 'test-admin-token';
  let clients: SocialClient[] = [];
  const media: ParticipantMedia[] = [];
  try {
    if (video) {
      const res = await fetch(`${gw.url}/admin/flags/video_call`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ enabled: true, rolloutPercent: 100 }),
      });
      if (!res.ok) throw new Error(`switching video_call on: HTTP ${res.status}`);
    }
    clients = await Promise.all((await loginUsers(gw.url, o.calls * 2, video ? 'vcv' : 'vca')).map((c) => c.connect()));
    await inBatches(
      Array.from({ length: o.calls }, (_, i) => i),
      8,
      (i) => befriend(clients[2 * i], clients[2 * i + 1]),
    );
    // A clean network: no link in the way.
    const links = { up: { audio: undefined, video: undefined }, down: { audio: undefined, video: undefined } };
    let counting = false;
    let bytes = 0;
    const meter = (_d: 'sent' | 'received', n: number) => {
      if (counting) bytes += n;
    };
    await inBatches(
      Array.from({ length: o.calls }, (_, i) => i),
      4,
      async (i) => {
        const [caller, callee] = [clients[2 * i], clients[2 * i + 1]];
        const call = await caller.calls.invite(callee.id, video ? 'video' : 'audio');
        const active = caller.calls.waitForState(call.id, 'active', 15_000);
        await callee.calls.waitForCall(call.id, 15_000);
        await callee.calls.accept(call.id);
        await active;
        for (const c of [caller, callee]) {
          media.push(await ParticipantMedia.open(c, call.id, { video, meter, clip, links }));
        }
      },
    );
    const kinds: ('audio' | 'video')[] = video ? ['audio', 'video'] : ['audio'];
    const ready = await Promise.all(media.map((m) => m.receiving(kinds, 15_000)));
    if (!ready.every(Boolean)) throw new Error('not every stream was received');
    const totalMs = o.warmupMs + o.measureMs;
    const talking = Promise.all(media.map((m) => m.send(TONE_HZ, totalMs)));
    await sleep(o.warmupMs);
    const workers = await gw.workerPids();
    if (workers.length === 0) throw new Error('the gateway lists no worker pids in /health');
    const sentBefore = media.reduce((n, m) => n + (m.audioOut?.packetsSent ?? 0) + (m.videoOut?.packetsSent ?? 0), 0);
    const receivedBefore = media.reduce((n, m) => n + (m.stats('audio')?.packets ?? 0) + (m.stats('video')?.packets ?? 0), 0);
    counting = true;
    const cpu = new CpuMeter(workers).start();
    const started = performance.now();
    await sleep(o.measureMs);
    const cores = Object.values(cpu.stop()).reduce((a, b) => a + b, 0);
    counting = false;
    const seconds = (performance.now() - started) / 1000;
    const sent = media.reduce((n, m) => n + (m.audioOut?.packetsSent ?? 0) + (m.videoOut?.packetsSent ?? 0), 0) - sentBefore;
    const received = media.reduce((n, m) => n + (m.stats('audio')?.packets ?? 0) + (m.stats('video')?.packets ?? 0), 0) - receivedBefore;
    await talking;
    return cost(o.calls, seconds, cores, bytes, sent, received);
  } finally {
    for (const m of media) m.close();
    disconnectAll(clients);
    await gw.close();
  }
}
