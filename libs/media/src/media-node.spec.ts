import crypto from 'node:crypto';
import { loadConfig, ManualClock, SystemClock } from '@app/config';
import { DomainError } from '@app/contracts';
import { MediaCluster, RedisMediaBus } from '@app/media-routing';
import type { AutoConsumed, MediaNodePush, RoomQualitySample } from '@app/media-routing';
import { createRootLogger, MetricsService } from '@app/observability';
import {
  EncodedTone,
  OPUS_PAYLOAD_TYPE,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  randomSsrc,
  RtpUdpSocket,
  serializeRtp,
} from '../../client/src/media';
import { MediaNodeHost } from './media-node.host';
import { MediaService } from './media.service';
import { WorkerPool } from './worker-pool';

/*
 * The media node's room API on a real mediasoup worker, without a gateway:
 * media:join in one request, its undo on failure, limits under concurrent
 * joins, auto-consume, quality samples from real RTP, bounded statistics,
 * and the node's own security checks (codec kind, plain-RTP sources).
 */

const config = loadConfig({
  NODE_ENV: 'test',
  DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
  PORT: '0',
  MEDIA_WORKERS: '1',
  MEDIA_WEBRTC_PORT: '0',
  MEDIA_PLAIN_RTP: 'true',
  CALL_QUALITY_INTERVAL_MS: '600000',
  LOG_LEVEL: 'silent',
  JWT_SECRET: 'test-secret-0123456789abcdef',
  ADMIN_TOKEN: 'test-admin-token',
});
const caps = PLAIN_RTP_CAPABILITIES as unknown as Record<string, unknown>;
const CLIENT = '127.0.0.1';

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => new Error('succeeded'),
    (e: unknown) => e,
  );
  if (!(err instanceof DomainError)) throw err;
  return err.code;
}

/** Sends `count` packets of a 440 Hz Opus tone from `socket` to the SFU's port, 20 ms of media each. */
async function sendTone(socket: RtpUdpSocket, to: { ip: string; port: number }, ssrc: number, count: number, firstSeq = 0): Promise<void> {
  const tone = EncodedTone.of(440);
  for (let i = 0; i < count; i++) {
    const n = firstSeq + i;
    await socket.send(
      serializeRtp({ payloadType: OPUS_PAYLOAD_TYPE, sequenceNumber: n, timestamp: n * 960, ssrc, marker: false, payload: tone.packet(n) }),
      to.ip,
      to.port,
    );
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Samples the room until its `up` legs have carried at least `min` packets in all (the worker
 * may still be reading the last datagrams when the sender is done); the total carried.
 */
async function upPackets(media: MediaService, callId: string, min: number): Promise<number> {
  let total = 0;
  await until(async () => {
    total += (await media.roomOf(callId)!.sample()).filter((l) => l.direction === 'up').reduce((n, l) => n + l.packets, 0);
    return total >= min;
  }, `${min} packets up`);
  return total;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a media node serving its room API (real mediasoup)', () => {
  const logger = createRootLogger('silent');
  const metrics = new MetricsService();
  const clock = new SystemClock();
  let pool: WorkerPool;
  let media: MediaService;
  const sockets: RtpUdpSocket[] = [];
  const added: AutoConsumed[] = [];
  const samples: RoomQualitySample[] = [];

  beforeAll(async () => {
    pool = new WorkerPool(config, logger, metrics, clock);
    await pool.onModuleInit();
    media = new MediaService(pool, config, logger, metrics, clock);
    media.onConsumerAdded((c) => added.push(c));
    media.onQuality((s) => samples.push(s));
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(async () => {
    media?.onModuleDestroy();
    await pool?.onModuleDestroy();
  });

  const socket = async (host = CLIENT) => {
    const s = await RtpUdpSocket.open(host);
    sockets.push(s);
    return s;
  };
  const room = async (kind: 'audio' | 'video' = 'audio') => {
    const callId = crypto.randomUUID();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await media.openRoom(callId, kind, [a, b]);
    return { callId, a, b };
  };

  it('joins in one request: a plain send transport producing, a connected recv transport, and a resumed consumer of the other', async () => {
    const { callId, a, b } = await room();
    const aSocket = await socket();
    const ssrc = randomSsrc();
    const aJoin = await media.join(callId, a, {
      clientAddress: CLIENT,
      send: {
        type: 'plain',
        rtcpMux: true,
        ip: CLIENT,
        port: aSocket.address.port,
        produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', ssrc) }],
      },
    });
    expect(aJoin.send?.producers).toEqual([{ kind: 'audio', producerId: expect.any(String) }]);
    expect(aJoin.consumers).toEqual([]);

    const bSocket = await socket();
    let received = 0;
    bSocket.onRtp(() => received++);
    const bJoin = await media.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: bSocket.address.port },
    });
    expect(bJoin.producers).toEqual([{ producerId: aJoin.send!.producers[0].producerId, userId: a, kind: 'audio' }]);
    expect(bJoin.consumers).toEqual([expect.objectContaining({ producerId: aJoin.send!.producers[0].producerId, kind: 'audio' })]);
    // Resumed already: what a sends reaches b with no media:resume.
    const send = aJoin.send as { ip: string; port: number };
    await sendTone(aSocket, send, ssrc, 100);
    await until(() => received >= 90, 'the tone at b');
    expect(await media.census()).toMatchObject({ transports: 2, producers: 1, consumers: 1 });
    await media.closeRoom(callId);
  });

  it('leaves nothing behind when a join fails half-way, and answers the failing step’s error', async () => {
    const { callId, a } = await room();
    const before = await media.census();
    // The send transport and its producer are made, then the recv transport's target is refused.
    const code = await refusal(
      media.join(callId, a, {
        clientAddress: CLIENT,
        rtpCapabilities: caps,
        send: { type: 'plain', rtcpMux: true, produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', randomSsrc()) }] },
        recv: { type: 'plain', rtcpMux: true, ip: '192.0.2.10', port: 4000 },
      }),
    );
    expect(code).toBe('FORBIDDEN');
    expect(await media.census()).toEqual(before);
    // A producer of the wrong kind for its codec fails the join as VALIDATION_FAILED, also undone.
    const code2 = await refusal(
      media.join(callId, a, {
        clientAddress: CLIENT,
        send: { type: 'plain', rtcpMux: true, produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('video', randomSsrc()) }] },
      }),
    );
    expect(code2).toBe('VALIDATION_FAILED');
    expect(await media.census()).toEqual(before);
    await media.closeRoom(callId);
  });

  it('keeps the per-participant limits for 30 joins sent at once', async () => {
    const { callId, a } = await room();
    const joins = Array.from({ length: 30 }, () =>
      media.join(callId, a, {
        clientAddress: CLIENT,
        rtpCapabilities: caps,
        send: { type: 'plain', rtcpMux: true, produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', randomSsrc()) }] },
        recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
      }),
    );
    const outcomes = await Promise.allSettled(joins);
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as DomainError).code));
    expect(codes.filter((c) => c === 'ok').length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c) => ['ok', 'INVALID_STATE', 'RATE_LIMITED'].includes(c))).toBe(true);
    const census = await media.census();
    expect(census.transports).toBeLessThanOrEqual(media.limits.transportsPerUser);
    expect(census.producers).toBe(1);
    await media.closeRoom(callId);
    expect(await media.census()).toMatchObject({ transports: 0, producers: 0, consumers: 0 });
  });

  it('lets a participant join again and again without piling up transports or consumers', async () => {
    const { callId, a, b } = await room();
    await media.join(callId, a, {
      clientAddress: CLIENT,
      send: { type: 'plain', rtcpMux: true, produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', randomSsrc()) }] },
    });
    for (let i = 0; i < 6; i++) {
      const joined = await media.join(callId, b, {
        clientAddress: CLIENT,
        rtpCapabilities: caps,
        send: { type: 'plain', rtcpMux: true, produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', 9000 + i) }] },
        recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
      });
      expect(joined.consumers).toHaveLength(1);
      if (i > 0) expect(joined.replacedProducerIds).toHaveLength(1);
      expect(media.roomOf(callId)!.objectCounts()).toEqual({ transports: 3, producers: 2, consumers: 1 });
    }
    await media.closeRoom(callId);
  });

  it('consumes a producer made after the join for the participant who joined, and says so', async () => {
    const { callId, a, b } = await room();
    const bJoin = await media.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
    });
    expect(bJoin.consumers).toEqual([]);
    // a produces step by step, later.
    const send = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    const produced = await media.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
    await until(() => added.some((c) => c.producerId === produced.producerId), 'consumer-added');
    expect(added.find((c) => c.producerId === produced.producerId)).toMatchObject({ callId, userId: b, kind: 'audio' });
    expect(await media.census()).toMatchObject({ consumers: 1 });
    await media.closeRoom(callId);
  });

  it('samples quality from real RTP: bitrate, packets, loss and jitter per leg', async () => {
    const { callId, a, b } = await room();
    const aSocket = await socket();
    const ssrc = randomSsrc();
    const aJoin = await media.join(callId, a, {
      clientAddress: CLIENT,
      send: {
        type: 'plain',
        rtcpMux: true,
        ip: CLIENT,
        port: aSocket.address.port,
        produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', ssrc) }],
      },
    });
    const bSocket = await socket();
    let received = 0;
    bSocket.onRtp(() => received++);
    await media.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: bSocket.address.port },
    });
    await media.sampleRooms();
    const sent = 300;
    await sendTone(aSocket, aJoin.send as { ip: string; port: number }, ssrc, sent);
    await until(() => received >= sent * 0.9, 'the tone at b');
    samples.length = 0;
    await media.sampleRooms();
    const legs = samples.find((s) => s.callId === callId)!.legs;
    const up = legs.find((l) => l.userId === a && l.direction === 'up')!;
    const down = legs.find((l) => l.userId === b && l.direction === 'down')!;
    expect(up.packets).toBeGreaterThanOrEqual(sent * 0.9);
    expect(up.packetsLost).toBe(0);
    expect(up.lossRatio).toBe(0);
    // 300 Opus frames in well under the interval's length: some kilobits per second at least.
    expect(up.bitrateBps).toBeGreaterThan(1000);
    expect(up.jitterMs).toBeGreaterThanOrEqual(0);
    expect(up.score).toEqual(expect.any(Number));
    expect(down.packets).toBeGreaterThanOrEqual(sent * 0.9);
    expect(down.kind).toBe('audio');
    const stats = await media.closeRoom(callId);
    expect(stats!.legs.find((l) => l.userId === a && l.direction === 'up')!.packets).toBeGreaterThanOrEqual(sent * 0.9);
    expect(stats!.legs.find((l) => l.userId === b && l.direction === 'down')!.bytes).toBeGreaterThan(0);
    expect((await metrics.render()).body).toMatch(/media_leg_bitrate_bps_count\{kind="audio",direction="up"\} [1-9]/);
  });

  it('samples but pushes nothing with CALL_QUALITY_INTERVAL_MS=0', async () => {
    const quiet = new MediaService(pool, { ...config, calls: { ...config.calls, qualityIntervalMs: 0 } }, logger, metrics, clock);
    const pushed: RoomQualitySample[] = [];
    quiet.onQuality((s) => pushed.push(s));
    const callId = crypto.randomUUID();
    const a = crypto.randomUUID();
    await quiet.openRoom(callId, 'audio', [a, crypto.randomUUID()]);
    const send = await quiet.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    await quiet.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
    await quiet.sampleRooms();
    expect(pushed).toEqual([]);
    expect(quiet.roomOf(callId)!.legCount()).toBe(1);
    await quiet.closeRoom(callId);
    quiet.onModuleDestroy();
  });

  it('keeps mediaStats bounded after 100 producer replacements', async () => {
    media.limits = { ...media.limits, createsPerWindow: 1_000 };
    try {
      const { callId, a } = await room();
      const client = await socket();
      for (let i = 0; i < 100; i++) {
        const send = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
        const r = await media.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', 7000 + i));
        if (i > 0) expect(r.replacedProducerIds).toHaveLength(1);
        // Each producer carries a few packets before the next replaces it.
        await sendTone(client, send as { ip: string; port: number }, 7000 + i, 3);
      }
      const opened = media.roomOf(callId)!;
      expect(opened.legCount()).toBe(1);
      expect(opened.objectCounts()).toEqual({ transports: 1, producers: 1, consumers: 0 });
      const stats = (await media.closeRoom(callId))!;
      expect(stats.legs).toEqual([expect.objectContaining({ userId: a, direction: 'up', kind: 'audio' })]);
      expect(stats.legs[0].packets).toBeGreaterThan(0);
      expect(stats.legs[0].packets).toBeLessThanOrEqual(300);
      expect(JSON.stringify(stats).length).toBeLessThan(1_000);
    } finally {
      media.limits = { ...media.limits, createsPerWindow: 30 };
    }
  });

  it('refuses too many creations in a short time with RATE_LIMITED and a retry delay', async () => {
    const { callId, a } = await room();
    let err: unknown;
    for (let i = 0; i < 40 && !err; i++) {
      try {
        const send = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
        await media.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', 8000 + i));
      } catch (e) {
        err = e;
      }
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('RATE_LIMITED');
    expect((err as DomainError).details?.retryAfterMs).toBeGreaterThan(0);
    await media.closeRoom(callId);
  });

  it('reads the churn window, the opening time and the sample times from its clock', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const timed = new MediaService(pool, config, logger, metrics, clock);
    timed.limits = { ...timed.limits, createsPerWindow: 2 };
    const windowMs = timed.limits.churnWindowMs;
    const pushed: RoomQualitySample[] = [];
    timed.onQuality((s) => pushed.push(s));
    const callId = crypto.randomUUID();
    const a = crypto.randomUUID();
    const create = () => timed.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    try {
      await timed.openRoom(callId, 'audio', [a, crypto.randomUUID()]);
      expect(timed.roomOf(callId)!.openedAt).toEqual(clock.now());
      const send = await create();
      await timed.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
      // Both creations at one instant of the clock: the next waits the whole window, however long the worker took.
      const err = await create().then(
        () => new Error('succeeded'),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DomainError);
      expect({ code: (err as DomainError).code, retryAfterMs: (err as DomainError).details?.retryAfterMs }).toEqual({
        code: 'RATE_LIMITED',
        retryAfterMs: windowMs,
      });
      clock.advance(windowMs - 1);
      expect(await refusal(create())).toBe('RATE_LIMITED');
      clock.advance(1);
      await create();
      await timed.sampleRooms();
      expect(pushed.map((p) => p.at)).toEqual([clock.now().toISOString()]);
    } finally {
      await timed.closeRoom(callId);
      timed.onModuleDestroy();
    }
  });

  it('refuses a producer whose codec is not of its kind, and offers video codecs to video calls only', async () => {
    const audio = await room('audio');
    const send = await media.createTransport(audio.callId, audio.a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    expect(await refusal(media.produce(audio.callId, audio.a, send.transportId, 'audio', plainRtpParameters('video', 1)))).toBe(
      'VALIDATION_FAILED',
    );
    const codecs = (await media.capabilities(audio.callId, audio.a)).rtpCapabilities.codecs as { mimeType: string }[];
    expect(codecs.every((c) => c.mimeType.startsWith('audio/'))).toBe(true);
    const video = await room('video');
    const vsend = await media.createTransport(video.callId, video.a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    expect(await refusal(media.produce(video.callId, video.a, vsend.transportId, 'video', plainRtpParameters('audio', 2)))).toBe(
      'VALIDATION_FAILED',
    );
    await media.produce(video.callId, video.a, vsend.transportId, 'video', plainRtpParameters('video', 3));
    await media.closeRoom(audio.callId);
    await media.closeRoom(video.callId);
  });

  it('takes RTP on a plain send transport with a declared source only from that source', async () => {
    const { callId, a } = await room();
    const client = await socket('127.0.0.1');
    const intruder = await socket('127.0.0.3');
    const ssrc = randomSsrc();
    const join = await media.join(callId, a, {
      clientAddress: CLIENT,
      send: {
        type: 'plain',
        rtcpMux: true,
        ip: CLIENT,
        port: client.address.port,
        produce: [{ kind: 'audio', rtpParameters: plainRtpParameters('audio', ssrc) }],
      },
    });
    const to = join.send as { ip: string; port: number };
    // The intruder sprays first, with the same SSRC: dropped by the worker.
    await sendTone(intruder, to, ssrc, 50, 0);
    await sendTone(client, to, ssrc, 100, 50);
    // Had the intruder's packets been taken, the source would be theirs and the client's dropped.
    const carried = await upPackets(media, callId, 90);
    expect(carried).toBeLessThanOrEqual(100);
    await media.closeRoom(callId);
  });

  it('closes a plain send transport whose learnt source is not the participant’s address', async () => {
    const { callId, a } = await room();
    const intruder = await socket('127.0.0.3');
    const send = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    await media.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', 4321));
    const before = (await media.census()).transports;
    await sendTone(intruder, send as { ip: string; port: number }, 4321, 5);
    await until(async () => (await media.census()).transports === before - 1, 'the transport closed');
    expect((await metrics.render()).body).toMatch(/media_plain_sources_refused_total [1-9]/);
    await media.closeRoom(callId);
  });

  it('holds a plain send transport to the source media:connect-transport declared', async () => {
    const { callId, a } = await room();
    const client = await socket('127.0.0.1');
    const intruder = await socket('127.0.0.3');
    // Declared and then used by the client: its packets arrive.
    const good = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    await media.connectTransport(callId, a, good.transportId, { ip: CLIENT, port: client.address.port, clientAddress: CLIENT });
    await media.produce(callId, a, good.transportId, 'audio', plainRtpParameters('audio', 1111));
    await sendTone(client, good as { ip: string; port: number }, 1111, 50);
    expect(await upPackets(media, callId, 45)).toBeLessThanOrEqual(50);
    // Declared, but someone else's packets come first: the transport goes rather than carry them.
    const b = media
      .roomOf(callId)!
      .participantIds()
      .find((id) => id !== a)!;
    const taken = await media.createTransport(callId, b, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    await media.connectTransport(callId, b, taken.transportId, { ip: CLIENT, port: client.address.port, clientAddress: CLIENT });
    await media.produce(callId, b, taken.transportId, 'audio', plainRtpParameters('audio', 2222));
    await sendTone(intruder, taken as { ip: string; port: number }, 2222, 5);
    await until(() => media.roomOf(callId)!.objectCounts().transports === 1, 'the taken transport closed');
    // A declared source outside the client's address is refused outright.
    const other = await media.createTransport(callId, b, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    expect(
      await refusal(media.connectTransport(callId, b, other.transportId, { ip: '192.0.2.7', port: 5000, clientAddress: CLIENT })),
    ).toBe('FORBIDDEN');
    await media.closeRoom(callId);
  });

  it('forgets who joined when the room is opened again after its worker died; a new join sets it again', async () => {
    const { callId, a, b } = await room();
    await media.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
    });
    const restarted = new Promise<void>((resolve) => media.onRoomEvent((e) => e.callId === callId && e.type === 'restarted' && resolve()));
    process.kill(media.workerPidOf(callId)!, 'SIGKILL');
    await restarted;
    // The new room knows nothing of b's join: a's producer is not consumed for b.
    const send = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    const first = await media.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
    await new Promise((r) => setTimeout(r, 100));
    expect(added.some((c) => c.producerId === first.producerId)).toBe(false);
    expect(media.roomOf(callId)!.objectCounts().consumers).toBe(0);
    // b joins again: a's producer is consumed in the join, and the next one is pushed.
    const again = await media.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
    });
    expect(again.consumers.map((c) => c.producerId)).toEqual([first.producerId]);
    const send2 = await media.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    const second = await media.produce(callId, a, send2.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
    await until(() => added.some((c) => c.producerId === second.producerId), 'consumer-added after the new join');
    await media.closeRoom(callId);
  });

  it('checks a plain recv transport’s target on the node too', async () => {
    const { callId, a } = await room();
    const recv = await media.createTransport(callId, a, { direction: 'recv', type: 'plain', clientAddress: CLIENT });
    expect(await refusal(media.connectTransport(callId, a, recv.transportId, { ip: '192.0.2.1', port: 5000, clientAddress: CLIENT }))).toBe(
      'FORBIDDEN',
    );
    await media.connectTransport(callId, a, recv.transportId, { ip: CLIENT, port: 5000, clientAddress: CLIENT });
    await media.closeRoom(callId);
  });

  it('opens rooms on routers made ahead, and counts only the rooms’ routers in its census', async () => {
    const worker = pool.workers()[0];
    const routerIds = async () => ((await worker.dump()) as { routerIds: string[] }).routerIds;
    const before = await media.census();
    const opened = [await room(), await room('video')];
    // The census waits for the spares being made: after it the worker holds exactly the rooms'
    // routers and one spare per kind of call.
    const census = await media.census();
    expect(census.routers).toBe(before.routers + 2);
    const spares = await routerIds();
    expect(spares.length).toBe(census.routers + 2);
    // The next rooms take those spares: their routers were made before they opened.
    const next = [await room(), await room('video')];
    for (const { callId } of next) expect(spares).toContain(media.roomOf(callId)!.router.id);
    for (const { callId } of [...opened, ...next]) await media.closeRoom(callId);
    expect((await media.census()).routers).toBe(before.routers);
  });

  it('refuses to open the room of a call whose end got here first, for a while; a close that is no end does not', async () => {
    const clock = new ManualClock(Date.UTC(2001, 0, 1));
    const node = new MediaService(pool, config, logger, metrics, clock);
    const ids: [string, string] = [crypto.randomUUID(), crypto.randomUUID()];
    const ended = crypto.randomUUID();
    const moved = crypto.randomUUID();
    try {
      // The end's close overtook the opening on its way: the opening is refused, nothing stays open.
      expect(await node.closeRoom(ended, true)).toBeNull();
      expect(await refusal(node.openRoom(ended, 'audio', ids))).toBe('NOT_FOUND');
      expect(node.hasRoom(ended)).toBe(false);
      // A room moved away is closed without `ended`, and may open here again.
      await node.openRoom(moved, 'audio', ids);
      await node.closeRoom(moved);
      await node.openRoom(moved, 'audio', ids);
      expect(node.hasRoom(moved)).toBe(true);
      // An end that arrives while the room opens closes it once open.
      const late = crypto.randomUUID();
      const opening = node.openRoom(late, 'audio', ids);
      expect(await node.closeRoom(late, true)).toBeNull();
      await opening;
      expect(node.hasRoom(late)).toBe(false);
      // Long after an end its call is forgotten (an opening then is no overtaken one).
      clock.advance(61_000);
      await node.closeRoom(crypto.randomUUID(), true);
      await node.openRoom(ended, 'audio', ids);
      expect(node.hasRoom(ended)).toBe(true);
    } finally {
      node.onModuleDestroy();
    }
  });
});

describe('a media node reached through Redis by the typed client', () => {
  const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const logger = createRootLogger('silent');
  const metrics = new MetricsService();
  const clock = new SystemClock();
  const key = `media-node-spec-${process.pid}-${Date.now()}`;
  let pool: WorkerPool;
  let media: MediaService;
  let host: MediaNodeHost;
  let nodeBus: RedisMediaBus;
  let gatewayBus: RedisMediaBus;
  let cluster: MediaCluster;

  beforeAll(async () => {
    pool = new WorkerPool(config, logger, metrics, clock);
    await pool.onModuleInit();
    media = new MediaService(pool, config, logger, metrics, clock);
    [nodeBus, gatewayBus] = await Promise.all([
      RedisMediaBus.connect(REDIS_URL, key, logger, metrics),
      RedisMediaBus.connect(REDIS_URL, key, logger, metrics),
    ]);
    host = new MediaNodeHost(media, pool, nodeBus, config, logger, metrics, clock);
    await host.onApplicationBootstrap();
    cluster = new MediaCluster(gatewayBus, config, logger, metrics, clock);
  });
  afterAll(async () => {
    await host?.onApplicationShutdown();
    media?.onModuleDestroy();
    await pool?.onModuleDestroy();
    await Promise.all([nodeBus?.close(), gatewayBus?.close()]);
  });

  it('joins over the bus, and a late producer of the other reaches the gateways as consumer-added', async () => {
    const pushes: MediaNodePush[] = [];
    await cluster.onPush((p) => pushes.push(p));
    const node = cluster.node(host.nodeId);
    const callId = crypto.randomUUID();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await node.openRoom(callId, 'audio', [a, b]);
    const joined = await node.join(callId, b, {
      clientAddress: CLIENT,
      rtpCapabilities: caps,
      recv: { type: 'plain', rtcpMux: true, ip: CLIENT, port: 9 },
    });
    expect(joined.recv).toMatchObject({ transportId: expect.any(String), port: expect.any(Number) });
    const send = await node.createTransport(callId, a, { direction: 'send', type: 'plain', clientAddress: CLIENT });
    const { producerId } = await node.produce(callId, a, send.transportId, 'audio', plainRtpParameters('audio', randomSsrc()));
    await until(() => pushes.some((p) => p.type === 'consumer-added' && p.consumer.producerId === producerId), 'consumer-added over Redis');
    expect(pushes.find((p) => p.type === 'consumer-added')).toMatchObject({
      nodeId: host.nodeId,
      consumer: { callId, userId: b, producerId, kind: 'audio' },
    });
    // A refusal travels as the node's DomainError.
    expect(await refusal(node.produce(callId, a, send.transportId, 'audio', plainRtpParameters('video', 1)))).toBe('VALIDATION_FAILED');
    await node.closeRoom(callId);
  });

  it('takes a close that says the call ended, and the previous version’s close by call id alone', async () => {
    const node = cluster.node(host.nodeId);
    const ids: [string, string] = [crypto.randomUUID(), crypto.randomUUID()];
    const ended = crypto.randomUUID();
    expect(await node.closeRoom(ended, true)).toBeNull();
    expect(await refusal(node.openRoom(ended, 'audio', ids))).toBe('NOT_FOUND');
    const old = crypto.randomUUID();
    await node.openRoom(old, 'audio', ids);
    await gatewayBus.request(host.nodeId, { method: 'closeRoom', args: [old] }, 2_000);
    expect(media.hasRoom(old)).toBe(false);
    // Not an end: the room may open there again.
    await node.openRoom(old, 'audio', ids);
    expect(media.hasRoom(old)).toBe(true);
    await node.closeRoom(old, true);
  });
});
