import type { types as ms } from 'mediasoup';
import type { SocialClient } from '@app/client';
import { WorkerPool } from '@app/media';
import { InProcessGateway, startInProcessGateway } from '@app/harness';
import { befriend, inBatches, loginUsers } from './bench-users';
import { CallTopology, newSsrc, OPUS_PAYLOAD_TYPE, sfuCounters } from './call-topology';
import { consumeAndResume, openRecvTransport, openSendSide, placeCall } from './protocol-call';
import type { RtpStream } from './rtp-generator';

/**
 * Calls set up through the gateway's protocol (dev-login, contacts, call
 * invite/accept, media:* with plain transports), one media worker. The
 * gateway runs in this process so the worker's producers and consumers can
 * be found (observer events) and asked for their packet counts.
 */
export class GatewayCallTopology implements CallTopology {
  readonly label = 'through the gateway';
  private readonly producers = new Map<string, ms.Producer>();
  private readonly consumers = new Map<string, ms.Consumer>();
  private readonly rtpStreams: RtpStream[] = [];
  private readonly clients: SocialClient[] = [];
  private callCount = 0;

  private constructor(
    private readonly gw: InProcessGateway,
    private readonly worker: ms.Worker,
    private readonly generatorPorts: number[],
  ) {
    worker.observer.on('newrouter', (router: ms.Router) =>
      router.observer.on('newtransport', (t: ms.Transport) => {
        t.observer.on('newproducer', (p: ms.Producer) => this.producers.set(p.id, p));
        t.observer.on('newconsumer', (c: ms.Consumer) => this.consumers.set(c.id, c));
      }),
    );
  }

  static async start(generatorPorts: number[], _log: (s: string) => void): Promise<GatewayCallTopology> {
    const gw = await startInProcessGateway({
      env: {
        MEDIA_WORKERS: '1',
        MEDIA_MIN_PORT: '30000',
        MEDIA_MAX_PORT: '39999',
        MEDIA_WEBRTC_PORT: '0',
        DM_RATE_PER_SEC: '100000',
        DM_RATE_BURST: '100000',
      },
    });
    const workers = gw.get(WorkerPool).workers();
    return new GatewayCallTopology(gw, workers[0], generatorPorts);
  }

  calls(): number {
    return this.callCount;
  }

  async addCalls(n: number): Promise<void> {
    if (n <= 0) return;
    const users = await loginUsers(this.gw.url, 2 * n, 'callbench', 16);
    await inBatches(users, 32, (u) => u.connect());
    this.clients.push(...users);
    const pairs = Array.from({ length: n }, (_, i) => [users[2 * i], users[2 * i + 1]] as const);
    await inBatches(pairs, 8, async ([a, b]) => {
      const thread = this.callCount++ % this.generatorPorts.length;
      const timing = { serverMs: 0 };
      await befriend(a, b);
      const callId = await placeCall(a, b, timing);
      const sides = await Promise.all(
        [a, b].map(async (c) => {
          const ssrc = newSsrc();
          const send = await openSendSide(c, callId, ssrc, timing);
          const recvTransportId = await openRecvTransport(c, callId, this.generatorPorts[thread], timing);
          this.rtpStreams.push({ thread, destPort: send.sendPort, ssrc, payloadType: OPUS_PAYLOAD_TYPE });
          return { client: c, ...send, recvTransportId };
        }),
      );
      await consumeAndResume(a, sides[0].recvTransportId, sides[1].producerId, sides[0].rtpCapabilities, timing);
      await consumeAndResume(b, sides[1].recvTransportId, sides[0].producerId, sides[1].rtpCapabilities, timing);
    });
  }

  streams(): RtpStream[] {
    return this.rtpStreams;
  }

  counters() {
    return sfuCounters(this.producers.values(), this.consumers.values());
  }

  workerPid(): number {
    return this.worker.pid;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.gw.close();
  }
}
