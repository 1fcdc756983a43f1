import type { types as ms } from 'mediasoup';
import type { RtpStream } from './rtp-generator';

/** Calls whose RTP the load generator drives, and the SFU's own packet counters. */
export interface CallTopology {
  readonly label: string;
  calls(): number;
  /** Adds calls (each two users, audio both ways). */
  addCalls(n: number): Promise<void>;
  streams(): RtpStream[];
  /** Packets the SFU received from all producers and sent on all consumers so far. */
  counters(): Promise<{ producerPackets: number; consumerPackets: number }>;
  workerPid(): number;
  close(): Promise<void>;
}

export const OPUS_PAYLOAD_TYPE = 100;

export const opusRtpParameters = (ssrc: number) => ({
  codecs: [
    {
      mimeType: 'audio/opus',
      payloadType: OPUS_PAYLOAD_TYPE,
      clockRate: 48000,
      channels: 2,
      parameters: { useinbandfec: 1 },
      rtcpFeedback: [],
    },
  ],
  encodings: [{ ssrc }],
});

/** Sums packetCount over producers' inbound and consumers' outbound stats. */
export async function sfuCounters(
  producers: Iterable<ms.Producer>,
  consumers: Iterable<ms.Consumer>,
): Promise<{ producerPackets: number; consumerPackets: number }> {
  let producerPackets = 0;
  let consumerPackets = 0;
  await Promise.all([
    ...[...producers]
      .filter((p) => !p.closed)
      .map(async (p) => {
        for (const s of await p.getStats()) producerPackets += (s as { packetCount?: number }).packetCount ?? 0;
      }),
    ...[...consumers]
      .filter((c) => !c.closed)
      .map(async (c) => {
        for (const s of await c.getStats()) if (s.type === 'outbound-rtp') consumerPackets += s.packetCount ?? 0;
      }),
  ]);
  return { producerPackets, consumerPackets };
}

let nextSsrc = 0x10000000 + Math.floor(Math.random() * 0x1000000);
export function newSsrc(): number {
  return nextSsrc++;
}
