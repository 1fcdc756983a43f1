import crypto from 'node:crypto';
import {
  befriend,
  checkTone,
  ClientError,
  EncodedTone,
  PLAIN_RTP_CAPABILITIES,
  plainRtpParameters,
  randomSsrc,
  SocialClient,
} from '@app/client';
import type { MediaJoinResultDto } from '@app/contracts';
import { MediaService } from '@app/media';
import { Client } from 'pg';
import { connectedUser, refusalCode, startTestGateway, TestGateway, waitForValue, waitUntil, putVideoFlag } from '@app/testing';
import { JoinedLeg } from './media-join-legs';

/*
 * media:join and call:accept with join through the raw protocol, against a
 * real gateway, PostgreSQL and mediasoup; real Opus over plain RTP.
 */

async function refusalOf(promise: Promise<unknown>): Promise<{ code: string; details?: Record<string, unknown> }> {
  const err = (await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  )) as { code?: string; details?: Record<string, unknown> };
  if (!err.code) throw err;
  return { code: err.code, details: err.details };
}

async function dbValue<T>(gw: TestGateway, sql: string, values: unknown[]): Promise<T | undefined> {
  const client = new Client({ connectionString: gw.db.url });
  await client.connect();
  try {
    const { rows } = await client.query(sql, values);
    return rows[0] ? (Object.values(rows[0])[0] as T) : undefined;
  } finally {
    await client.end();
  }
}

/** Plays a tone each way and checks each side heard the other's, decoded. */
async function talk(caller: JoinedLeg, callee: JoinedLeg): Promise<void> {
  const [sentByCaller, sentByCallee] = await Promise.all([caller.sendTone(440, 1000), callee.sendTone(660, 1000)]);
  const callerAudio = caller.producerId('audio');
  const calleeAudio = callee.producerId('audio');
  await Promise.all([callee.waitForPackets(callerAudio, sentByCaller, 5000), caller.waitForPackets(calleeAudio, sentByCallee, 5000)]);
  const heardByCallee = checkTone(
    callee.receivedOf(callerAudio).map((p) => p.payload),
    EncodedTone.of(440),
    sentByCaller,
  );
  const heardByCaller = checkTone(
    caller.receivedOf(calleeAudio).map((p) => p.payload),
    EncodedTone.of(660),
    sentByCallee,
  );
  expect(heardByCallee.passed).toBe(true);
  expect(heardByCaller.passed).toBe(true);
}

describe('media:join', () => {
  let gw: TestGateway;
  let media: MediaService;

  beforeAll(async () => {
    gw = await startTestGateway();
    media = gw.get(MediaService);
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function pair(): Promise<[SocialClient, SocialClient]> {
    const [alice, bob] = await Promise.all([connectedUser(gw, 'alice'), connectedUser(gw, 'bob')]);
    await befriend(alice, bob);
    return [alice, bob];
  }

  /** invite → accept with join → the caller's join once it hears the call is active: three round trips. */
  async function joinedCall(alice: SocialClient, bob: SocialClient, kind: 'audio' | 'video' = 'audio') {
    const ringing = await alice.request('call:invite', { to: bob.id, media: kind });
    const callId = ringing.call.id;
    const [aliceLeg, bobLeg] = await Promise.all([JoinedLeg.open(alice, callId), JoinedLeg.open(bob, callId)]);
    const active = alice.waitFor('call:state', (e) => e.call.id === callId && e.call.state === 'active');
    const accepted = await bob.request('call:accept', { callId, join: bobLeg.options() });
    expect(accepted.call.state).toBe('active');
    bobLeg.joined(accepted.media!);
    const bobHearsOfAlice = bob.waitFor('media:consumer-added', (e) => e.callId === callId);
    await active;
    aliceLeg.joined(await alice.request('media:join', { callId, ...aliceLeg.options() }));
    bobLeg.addConsumer(await bobHearsOfAlice);
    return { callId, aliceLeg, bobLeg, accepted };
  }

  it('sets up a plain-RTP call in three round trips: both hear each other’s tone; the set-up time is stored', async () => {
    const [alice, bob] = await pair();
    const aliceHearsOfBob = alice.waitFor('media:producer-added', (e) => e.userId === bob.id);
    const { callId, aliceLeg, bobLeg, accepted } = await joinedCall(alice, bob);

    // The callee joined first: nothing of the caller's yet, so no consumers in its answer.
    expect(accepted.media).toMatchObject({ consumers: [], producers: [] });
    expect(accepted.media!.send!.producers).toEqual([{ kind: 'audio', producerId: expect.any(String) }]);
    expect(accepted.media!.recv).toMatchObject({ transportId: expect.any(String) });
    // The caller joined second: the callee's producer listed and already consumed for it.
    expect(aliceLeg.consumers.map((c) => c.producerId)).toEqual([bobLeg.producerId('audio')]);
    expect((await aliceHearsOfBob).producerId).toBe(bobLeg.producerId('audio'));
    expect(bobLeg.consumers.map((c) => c.producerId)).toEqual([aliceLeg.producerId('audio')]);

    await talk(aliceLeg, bobLeg);

    // Stored beside the join's answer, not before it.
    const setupMs = await waitForValue(
      async () => (await dbValue<number | null>(gw, 'SELECT media_setup_ms FROM calls WHERE id = $1', [callId])) ?? undefined,
    );
    expect(setupMs).toEqual(expect.any(Number));
    expect(setupMs).toBeGreaterThanOrEqual(0);

    await alice.request('call:hangup', { callId });
    expect(await media.census()).toMatchObject({ rooms: 0, transports: 0, producers: 0, consumers: 0 });
    const [stored] = (await alice.route('GET /calls', '/calls?limit=1')).calls;
    expect(stored.id).toBe(callId);
    const up = stored.mediaStats?.legs.find((l) => l.userId === alice.id && l.direction === 'up' && l.kind === 'audio');
    expect(up?.packets).toBeGreaterThan(0);
    // The set-up time is written once: a later producer leaves it as it was.
    expect(await dbValue<number>(gw, 'SELECT media_setup_ms FROM calls WHERE id = $1', [callId])).toBe(setupMs);
    for (const leg of [aliceLeg, bobLeg]) leg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('a join failing half-way leaves nothing behind, and the next join works', async () => {
    const [alice, bob] = await pair();
    await putVideoFlag(gw.url, { enabled: true, allowUserIds: [alice.id, bob.id] });
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'video' });
    const callId = ringing.call.id;
    await bob.request('call:accept', { callId });
    const leg = await JoinedLeg.open(alice, callId);
    const before = await media.census();

    const options = leg.options(['audio', 'video']);
    // The second produce entry names a codec the room does not have: the send transport, the
    // recv transport and the audio producer made before it must all go again.
    options.send!.produce![1].rtpParameters = {
      codecs: [{ mimeType: 'video/H265', payloadType: 102, clockRate: 90_000, rtcpFeedback: [], parameters: {} }],
      encodings: [{ ssrc: randomSsrc() }],
    };
    const failed = await refusalOf(alice.request('media:join', { callId, ...options }));
    expect(failed.code).not.toBe('INTERNAL');
    expect(await media.census()).toEqual(before);

    const joined = await leg.join(['audio', 'video']);
    expect(joined.send!.producers.map((p) => p.kind).sort()).toEqual(['audio', 'video']);
    await alice.request('call:hangup', { callId });
    leg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('an accept with join racing the caller’s cancel leaves no room or transport behind, whichever wins', async () => {
    const [alice, bob] = await pair();
    const outcomes = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const { call } = await alice.request('call:invite', { to: bob.id });
      const leg = await JoinedLeg.open(bob, call.id);
      // The callee's transports are made while its answer commits: a lost answer must take them away again.
      // Sent in either order: each may reach the server first.
      const accept = () => bob.request('call:accept', { callId: call.id, join: leg.options() });
      const cancel = () => alice.request('call:cancel', { callId: call.id });
      const [accepted, cancelled] =
        round % 2 === 0
          ? await Promise.allSettled([accept(), cancel()])
          : await Promise.allSettled([cancel(), accept()]).then(([c, a]) => [a, c] as const);
      outcomes.add(`${accepted.status}/${cancelled.status}`);
      if (accepted.status === 'fulfilled') {
        expect(accepted.value.media!.recv).toMatchObject({ transportId: expect.any(String) });
        await alice.request('call:hangup', { callId: call.id });
      } else {
        expect((accepted.reason as ClientError).code).toBe('INVALID_STATE');
      }
      await waitUntil(async () => (await media.census()).rooms === 0);
      expect(await media.census()).toMatchObject({ rooms: 0, transports: 0, producers: 0, consumers: 0 });
      leg.close();
    }
    // Exactly one of the two won each round.
    for (const o of outcomes) expect(['fulfilled/rejected', 'rejected/fulfilled']).toContain(o);
    alice.disconnect();
    bob.disconnect();
  });

  it('joins answered before their announcement still tell the other participant in order', async () => {
    const [alice, bob] = await pair();
    const { callId, aliceLeg, bobLeg } = await joinedCall(alice, bob);
    const heard: string[] = [];
    const offAdded = bob.on('media:producer-added', (e) => heard.push(`added ${e.producerId}`));
    const offClosed = bob.on('media:producer-closed', (e) => heard.push(`closed ${e.producerId} ${e.reason}`));
    // Two more joins, each sent as soon as the one before was answered: each replaces the audio producer.
    const [second, third] = await Promise.all([JoinedLeg.open(alice, callId), JoinedLeg.open(alice, callId)]);
    await second.join();
    await third.join();
    const [first, replacing, last] = [aliceLeg, second, third].map((leg) => leg.producerId('audio'));
    await waitUntil(() => (heard.includes(`added ${last}`) ? true : undefined));
    expect(heard).toEqual([`closed ${first} replaced`, `added ${replacing}`, `closed ${replacing} replaced`, `added ${last}`]);
    offAdded();
    offClosed();
    await alice.request('call:hangup', { callId });
    for (const leg of [aliceLeg, bobLeg, second, third]) leg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('holds the per-participant limits under 30 concurrent joins', async () => {
    const [alice, bob] = await pair();
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    const callId = ringing.call.id;
    await bob.request('call:accept', { callId });
    const legs = await Promise.all(Array.from({ length: 30 }, () => JoinedLeg.open(alice, callId)));
    const outcomes = await Promise.all(
      legs.map((leg) =>
        leg.join().then(
          (r: MediaJoinResultDto) => ({ ok: true as const, r }),
          (e: { code?: string }) => ({ ok: false as const, code: e.code }),
        ),
      ),
    );
    const ok = outcomes.filter((o) => o.ok);
    // Two transports per join and at most 4 per participant at any moment (a later join's recv
    // transport takes over from an earlier one, which then goes): most joins are refused.
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThan(30);
    expect(new Set(outcomes.filter((o) => !o.ok).map((o) => (o as { code?: string }).code))).toEqual(new Set(['INVALID_STATE']));
    const census = await media.census();
    expect(census.transports).toBeLessThanOrEqual(4);
    // One producer per kind: a second audio producer replaced the first.
    expect(census.producers).toBe(1);

    // The callee consumes that producer once; joining again moves its consumer to the new
    // transport instead of adding a second one.
    const bobLeg = await JoinedLeg.open(bob, callId);
    const bobJoined = await bobLeg.join([]);
    expect(bobJoined.consumers).toHaveLength(1);
    const again = await JoinedLeg.open(bob, callId);
    const secondJoin = await again.join([]);
    expect(secondJoin.consumers.map((c) => c.producerId)).toEqual(bobJoined.consumers.map((c) => c.producerId));
    expect((await media.census()).consumers).toBe(1);

    await alice.request('call:hangup', { callId });
    for (const leg of [...legs, bobLeg, again]) leg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('after media:restart (its worker killed) both join again and hear each other', async () => {
    const [alice, bob] = await pair();
    const { callId, aliceLeg, bobLeg } = await joinedCall(alice, bob);
    const restarted = Promise.all([alice, bob].map((u) => u.waitFor('media:restart', (e) => e.callId === callId, 15_000)));
    process.kill(media.workerPidOf(callId)!, 'SIGKILL');
    expect((await restarted).map((e) => e.reason)).toEqual(['worker_died', 'worker_died']);
    aliceLeg.close();
    bobLeg.close();

    const [alice2, bob2] = await Promise.all([JoinedLeg.open(alice, callId), JoinedLeg.open(bob, callId)]);
    const bobHearsOfAlice = bob.waitFor('media:consumer-added', (e) => e.callId === callId);
    await bob2.join();
    await alice2.join();
    bob2.addConsumer(await bobHearsOfAlice);
    await talk(alice2, bob2);
    await bob.request('call:hangup', { callId });
    alice2.close();
    bob2.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('a video producer made after the other joined arrives as media:consumer-added, and its packets flow', async () => {
    const [alice, bob] = await pair();
    await putVideoFlag(gw.url, { enabled: true, allowUserIds: [alice.id, bob.id] });
    const { callId, aliceLeg, bobLeg } = await joinedCall(alice, bob, 'video');
    const added = bob.waitFor('media:consumer-added', (e) => e.callId === callId && e.kind === 'video');

    const video = await alice.request('media:produce', {
      transportId: aliceLeg.producerTransportId(),
      kind: 'video',
      rtpParameters: plainRtpParameters('video', aliceLeg.ssrcs.video),
    });
    const consumer = await added;
    expect(consumer).toMatchObject({ callId, producerId: video.producerId, kind: 'video', consumerId: expect.any(String) });
    bobLeg.addConsumer(consumer);
    await aliceLeg.sendVideoPackets(20);
    expect(await bobLeg.waitForPackets(video.producerId, 10, 5000)).toBeGreaterThanOrEqual(10);
    await alice.request('call:hangup', { callId });
    aliceLeg.close();
    bobLeg.close();
    alice.disconnect();
    bob.disconnect();
  });

  it('refuses bad input: malformed, another user’s call, an unknown call, a foreign address', async () => {
    const [alice, bob] = await pair();
    const eve = await connectedUser(gw, 'eve');
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    const callId = ringing.call.id;
    const leg = await JoinedLeg.open(bob, callId);
    const before = await media.census();

    // call:accept's join is checked before the call is answered: refused, it keeps ringing.
    expect(await refusalCode(bob.request('call:accept', { callId, join: { send: { type: 'carrier-pigeon' } } } as never))).toBe(
      'VALIDATION_FAILED',
    );
    expect(await refusalCode(bob.request('call:accept', { callId, join: { recv: { type: 'plain', ip: '10.9.8.7', port: 5000 } } }))).toBe(
      'FORBIDDEN',
    );
    expect(
      await refusalCode(bob.request('call:accept', { callId, join: { send: { type: 'webrtc', produce: leg.options().send!.produce } } })),
    ).toBe('VALIDATION_FAILED');
    expect(await refusalCode(eve.request('call:accept', { callId, join: leg.options() }))).toBe('FORBIDDEN');
    expect(await refusalCode(bob.request('call:accept', { callId: crypto.randomUUID(), join: leg.options() }))).toBe('NOT_FOUND');
    expect((await bob.route('GET /calls', '/calls?limit=1')).calls[0].state).toBe('ringing');

    // A join that fails after the answer: the call is active, the error says so in details.call.
    const afterAnswer = await refusalOf(bob.request('call:accept', { callId, join: leg.options(['video']) }));
    expect(afterAnswer.code).toBe('VIDEO_CALL_DISABLED');
    expect(afterAnswer.details).toMatchObject({ step: 'join', call: { id: callId, state: 'active' } });
    expect((await media.census()).transports).toBe(before.transports);
    // ...and media:join then works.
    await leg.join();

    expect(await refusalCode(alice.request('media:join', { callId: 'not-a-uuid' }))).toBe('VALIDATION_FAILED');
    expect(await refusalCode(alice.request('media:join', { callId, send: { type: 'plain', produce: [{ kind: 'smell' }] } } as never))).toBe(
      'VALIDATION_FAILED',
    );
    expect(await refusalCode(alice.request('media:join', { callId, recv: { type: 'plain', ip: '127.0.0.1' } }))).toBe('VALIDATION_FAILED');
    expect(await refusalCode(alice.request('media:join', { callId, recv: { type: 'plain', ip: '192.0.2.1', port: 4000 } }))).toBe(
      'FORBIDDEN',
    );
    expect(await refusalCode(eve.request('media:join', { callId, rtpCapabilities: PLAIN_RTP_CAPABILITIES }))).toBe('FORBIDDEN');
    expect(await refusalCode(alice.request('media:join', { callId: crypto.randomUUID() }))).toBe('NOT_FOUND');

    await alice.request('call:hangup', { callId });
    expect(await refusalCode(alice.request('media:join', { callId }))).toBe('NOT_FOUND');
    leg.close();
    for (const c of [alice, bob, eve]) c.disconnect();
  });

  // Names as exported with METRICS_PREFIX empty (the tests' setting).
  it('exports the calls metrics at /metrics', async () => {
    const [alice, bob] = await pair();
    const { callId, aliceLeg, bobLeg } = await joinedCall(alice, bob);
    const during = await (await fetch(`${gw.url}/metrics`)).text();
    expect(during.split('\n').filter((l) => l.includes('calls_active'))).toContain('calls_active 1');
    await alice.request('call:hangup', { callId });
    const lines = (await (await fetch(`${gw.url}/metrics`)).text()).split('\n');
    // A sample line of `name` carrying every one of `labels`, with a value of at least `min`.
    const sample = (name: string, labels: string[], min = 1) =>
      lines.some(
        (l) => l.startsWith(name + (labels.length ? '{' : ' ')) && labels.every((x) => l.includes(x)) && Number(l.split(' ').pop()) >= min,
      );
    expect(sample('calls_ended_total', ['reason="hangup"'])).toBe(true);
    // Sub-millisecond buckets: the first one is 100 µs.
    expect(sample('call_setup_step_seconds_bucket', ['le="0.0001"', 'step="invite"', 'outcome="ok"'], 0)).toBe(true);
    expect(sample('call_setup_step_seconds_count', ['step="accept"', 'outcome="ok"'])).toBe(true);
    expect(sample('call_setup_step_seconds_count', ['step="join"', 'outcome="ok"'])).toBe(true);
    expect(sample('media_request_duration_seconds_count', ['event="media:join"', 'outcome="ok"'])).toBe(true);
    expect(sample('call_media_setup_seconds_count', [])).toBe(true);
    await waitUntil(async () => ((await (await fetch(`${gw.url}/metrics`)).text()).match(/^calls_active 0$/m) ? true : undefined));
    aliceLeg.close();
    bobLeg.close();
    alice.disconnect();
    bob.disconnect();
  });
});
