import { loadConfig } from '@app/config';
import type { MediaCluster, MediaNodePush } from '@app/media-routing';
import type { RealtimeService } from '@app/realtime';
import { CallMediaPushes } from './call-media-pushes';

const callId = 'c0000000-0000-4000-8000-00000000000c';
const alice = 'a0000000-0000-4000-8000-00000000000a';
const bob = 'b0000000-0000-4000-8000-00000000000b';

/** The pushes a process delivers, and to whom: only through the local-only emit. */
function deliveredBy(qualityIntervalMs: number, heldHereAlone: string[] = []) {
  const sent: { userId: string; event: string; payload: unknown }[] = [];
  let listener: ((push: MediaNodePush) => void) | undefined;
  let staysHere: ((push: MediaNodePush) => boolean) | undefined;
  const cluster = {
    onPush: (l: (push: MediaNodePush) => void) => void (listener = l),
    keepPushesHereWhen: (p: (push: MediaNodePush) => boolean) => void (staysHere = p),
  } as unknown as MediaCluster;
  const realtime = {
    heldHereAlone: (userId: string) => heldHereAlone.includes(userId),
    toUserLocal: (userId: string, event: string, payload: unknown) => sent.push({ userId, event, payload }),
    toUser: () => {
      throw new Error('node pushes are delivered to this process’s own sockets only');
    },
  } as unknown as RealtimeService;
  const config = loadConfig({ LOG_LEVEL: 'silent', CALL_QUALITY_INTERVAL_MS: String(qualityIntervalMs) });
  void new CallMediaPushes(cluster, realtime, config).onModuleInit();
  return { sent, push: (p: MediaNodePush) => listener!(p), staysHere: (p: MediaNodePush) => staysHere!(p) };
}

const quality: MediaNodePush = {
  type: 'quality',
  nodeId: 'node-1',
  participantIds: [alice, bob],
  sample: {
    callId,
    at: '2026-12-02T04:00:00.000Z',
    legs: [{ userId: alice, direction: 'up', kind: 'audio', bitrateBps: 32_000, packets: 50, packetsLost: 0, lossRatio: 0, jitterMs: 1 }],
  },
};

describe(CallMediaPushes.name, () => {
  it('tells the participant a consumer was made for, with the protocol’s fields only', () => {
    const { sent, push } = deliveredBy(200);
    push({
      type: 'consumer-added',
      nodeId: 'node-1',
      consumer: { callId, userId: bob, consumerId: 'k1', producerId: 'p1', kind: 'audio', rtpParameters: { codecs: [] } },
    });
    expect(sent).toEqual([
      {
        userId: bob,
        event: 'media:consumer-added',
        payload: { callId, consumerId: 'k1', producerId: 'p1', kind: 'audio', rtpParameters: { codecs: [] } },
      },
    ]);
  });

  it('gives both participants the quality sample', () => {
    const { sent, push } = deliveredBy(200);
    push(quality);
    const payload = {
      callId,
      at: quality.type === 'quality' && quality.sample.at,
      legs: quality.type === 'quality' && quality.sample.legs,
    };
    expect(sent).toEqual([
      { userId: alice, event: 'call:quality', payload },
      { userId: bob, event: 'call:quality', payload },
    ]);
  });

  it('keeps a push in this process only when every recipient has all of their sockets here', () => {
    const consumerAdded: MediaNodePush = {
      type: 'consumer-added',
      nodeId: 'node-1',
      consumer: { callId, userId: bob, consumerId: 'k1', producerId: 'p1', kind: 'audio', rtpParameters: {} },
    };
    expect(deliveredBy(200, [bob]).staysHere(consumerAdded)).toBe(true);
    expect(deliveredBy(200, [alice]).staysHere(consumerAdded)).toBe(false);
    expect(deliveredBy(200, [alice, bob]).staysHere(quality)).toBe(true);
    expect(deliveredBy(200, [bob]).staysHere(quality)).toBe(false);
  });

  it('pushes no quality with CALL_QUALITY_INTERVAL_MS=0', () => {
    const { sent, push } = deliveredBy(0);
    push(quality);
    expect(sent).toEqual([]);
  });
});
