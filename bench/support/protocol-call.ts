import type { SocialClient } from '@app/client';
import { OPUS_PAYLOAD_TYPE, opusRtpParameters } from './call-topology';

/** An Opus RTP packet whose payload carries `marker`, so the receiving side can tell which call it belongs to. */
export function markedRtpPacket(ssrc: number, seq: number, marker: number): Buffer {
  const p = Buffer.alloc(12 + 40);
  p[0] = 0x80;
  p[1] = OPUS_PAYLOAD_TYPE;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 960) >>> 0, 4);
  p.writeUInt32BE(ssrc, 8);
  p[12] = 0x78;
  p.writeUInt32BE(marker, 13);
  return p;
}

/** The marker of a packet made by markedRtpPacket as the SFU forwards it (after any header extensions), or null. */
export function rtpMarkerOf(msg: Buffer): number | null {
  const csrcEnd = 12 + (msg[0] & 0x0f) * 4;
  const offset = msg[0] & 0x10 ? csrcEnd + 4 + msg.readUInt16BE(csrcEnd + 2) * 4 : csrcEnd;
  if ((msg[1] & 0x7f) !== OPUS_PAYLOAD_TYPE || msg.length < offset + 5) return null;
  return msg.readUInt32BE(offset + 1);
}

export interface TimedRequests {
  /** Sum of request round trips (what the server spent, plus loopback). */
  serverMs: number;
  /** The same, by request name. */
  steps?: Record<string, number>;
  /**
   * With it, processes' threads are read just before and after each request (outside its round
   * trip) and what they ran meanwhile added to `byStep` under the request's name.
   */
  threads?: { read(): number[]; byStep: Record<string, number[]> };
}

/** A request whose round trip is added to `timing.serverMs` (and to its step). */
export async function timed<T>(timing: TimedRequests, fn: () => Promise<T>, step = 'request'): Promise<T> {
  const threadsBefore = timing.threads?.read();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    timing.serverMs += ms;
    if (timing.steps) timing.steps[step] = (timing.steps[step] ?? 0) + ms;
    if (timing.threads && threadsBefore) {
      const after = timing.threads.read();
      const sums = (timing.threads.byStep[step] ??= after.map(() => 0));
      after.forEach((value, i) => (sums[i] += value - threadsBefore[i]));
    }
  }
}

export interface SideMedia {
  sendPort: number;
  producerId: string;
  recvTransportId: string;
  rtpCapabilities: Record<string, unknown>;
}

/** One participant's plain-RTP send side: capabilities, a comedia send transport, an Opus producer. */
export async function openSendSide(
  c: SocialClient,
  callId: string,
  ssrc: number,
  timing: TimedRequests,
): Promise<Omit<SideMedia, 'recvTransportId'>> {
  const { rtpCapabilities } = await timed(timing, () => c.request('media:capabilities', { callId }), 'media:capabilities');
  const send = (await timed(
    timing,
    () => c.request('media:create-transport', { callId, direction: 'send', type: 'plain' }),
    'media:create-transport',
  )) as { transportId: string; port: number };
  const { producerId } = await timed(
    timing,
    () => c.request('media:produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opusRtpParameters(ssrc) }),
    'media:produce',
  );
  return { sendPort: send.port, producerId, rtpCapabilities: rtpCapabilities as Record<string, unknown> };
}

/** A plain recv transport that sends RTP to 127.0.0.1:`port`. */
export async function openRecvTransport(c: SocialClient, callId: string, port: number, timing: TimedRequests): Promise<string> {
  const recv = (await timed(
    timing,
    () => c.request('media:create-transport', { callId, direction: 'recv', type: 'plain' }),
    'media:create-transport',
  )) as { transportId: string };
  await timed(
    timing,
    () => c.request('media:connect-transport', { transportId: recv.transportId, ip: '127.0.0.1', port }),
    'media:connect-transport',
  );
  return recv.transportId;
}

/** Consumes a producer on a recv transport and resumes it (consumers start paused). */
export async function consumeAndResume(
  c: SocialClient,
  transportId: string,
  producerId: string,
  rtpCapabilities: Record<string, unknown>,
  timing: TimedRequests,
): Promise<string> {
  const { consumerId } = await timed(
    timing,
    () => c.request('media:consume', { transportId, producerId, rtpCapabilities }),
    'media:consume',
  );
  await timed(timing, () => c.request('media:resume', { consumerId }), 'media:resume');
  return consumerId;
}

/** Caller invites, callee accepts: returns the call id. */
export async function placeCall(caller: SocialClient, callee: SocialClient, timing: TimedRequests): Promise<string> {
  const { call } = await timed(timing, () => caller.request('call:invite', { to: callee.id }), 'call:invite');
  await timed(timing, () => callee.request('call:accept', { callId: call.id }), 'call:accept');
  return call.id;
}
