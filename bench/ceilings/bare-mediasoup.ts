import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { CallTopology, newSsrc, OPUS_PAYLOAD_TYPE, opusRtpParameters, sfuCounters } from '../support/call-topology';
import type { RtpStream } from '../support/rtp-generator';

/**
 * The media ceiling: one mediasoup worker with, per call, the objects the
 * gateway creates (a router, per user a comedia plain send transport with an
 * Opus producer and a plain recv transport with a consumer of the other's
 * producer), made directly with no gateway, database or signalling.
 */
export class BareMediasoupTopology implements CallTopology {
  private readonly routers: ms.Router[] = [];
  private readonly producers: ms.Producer[] = [];
  private readonly consumers: ms.Consumer[] = [];
  private readonly rtpStreams: RtpStream[] = [];

  private constructor(
    readonly label: string,
    private readonly worker: ms.Worker,
    private readonly generatorPorts: number[],
  ) {}

  /**
   * `lib`: the mediasoup package to use; the current one by default, or
   * another version's (the 3.8.4 kept for this comparison) with the same API
   * for what is made here.
   */
  static async start(
    generatorPorts: number[],
    ports = { min: 20000, max: 29999 },
    lib: { createWorker: typeof mediasoup.createWorker; version: string } = mediasoup,
  ): Promise<BareMediasoupTopology> {
    const worker = await lib.createWorker({ logLevel: 'warn', rtcMinPort: ports.min, rtcMaxPort: ports.max });
    return new BareMediasoupTopology(`bare mediasoup ${lib.version} worker`, worker, generatorPorts);
  }

  calls(): number {
    return this.routers.length;
  }

  async addCalls(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.addCall();
  }

  private async addCall(): Promise<void> {
    const thread = this.routers.length % this.generatorPorts.length;
    const router = await this.worker.createRouter({
      mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
    });
    this.routers.push(router);
    const sides = await Promise.all(
      [0, 1].map(async () => {
        const send = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: true });
        const recv = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: false });
        await recv.connect({ ip: '127.0.0.1', port: this.generatorPorts[thread] });
        const ssrc = newSsrc();
        const producer = await send.produce({ kind: 'audio', rtpParameters: opusRtpParameters(ssrc) as ms.RtpParameters });
        this.producers.push(producer);
        this.rtpStreams.push({ thread, destPort: send.tuple.localPort, ssrc, payloadType: OPUS_PAYLOAD_TYPE });
        return { recv, producer };
      }),
    );
    for (const [me, other] of [
      [sides[0], sides[1]],
      [sides[1], sides[0]],
    ]) {
      this.consumers.push(await me.recv.consume({ producerId: other.producer.id, rtpCapabilities: router.rtpCapabilities, paused: false }));
    }
  }

  streams(): RtpStream[] {
    return this.rtpStreams;
  }

  counters() {
    return sfuCounters(this.producers, this.consumers);
  }

  workerPid(): number {
    return this.worker.pid;
  }

  async close(): Promise<void> {
    this.worker.close();
  }
}
