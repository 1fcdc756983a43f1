import crypto from 'node:crypto';
import { SocialClient } from '@app/client';
import type { CallDto } from '@app/contracts';
import { WorkerPool } from '@app/media';
import { startTestGateway, TestGateway, uniqueHandle, sleep } from '@app/testing';
import { PlainCallMedia, PlainReceiveStream, PlainSendStream } from '../../libs/client/src/media';

describe('a mediasoup worker killed mid-call', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const streams: { close(): void }[] = [];

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    for (const c of clients) c.disconnect();
    await gw?.close();
  });

  async function friends(): Promise<[SocialClient, SocialClient]> {
    const [a, b] = await Promise.all([1, 2].map(() => SocialClient.login(gw.url, uniqueHandle('wd'))));
    await Promise.all([a.connect(), b.connect()]);
    clients.push(a, b);
    await a.http('PUT', `/contacts/${b.id}`, {});
    await b.http('PUT', `/contacts/${a.id}`, {});
    return [a, b];
  }

  async function activeCallWithAudio(a: SocialClient, b: SocialClient): Promise<{ call: CallDto; recv: PlainReceiveStream }> {
    const { call } = await a.request('call:invite', { to: b.id });
    await b.request('call:accept', { callId: call.id });
    const send = await PlainSendStream.open(a, call.id, 'audio');
    const recv = await PlainReceiveStream.open(b, call.id, send.producerId);
    streams.push(send, recv);
    const sent = await send.sendTone(440, 200);
    expect(await recv.waitForPackets(sent, 5000)).toBeGreaterThan(0);
    return { call, recv };
  }

  it('moves the rooms of its calls to its replacement (media:restart, audio back), keeps the rest of the service up, and serves new calls', async () => {
    const pool = gw.get(WorkerPool);
    const [alice, bob] = await friends();
    const [carol, dave] = await friends();
    const [erin, frank] = await friends();
    const [gina, hank] = await friends();
    const first = await activeCallWithAudio(alice, bob);
    const second = await activeCallWithAudio(carol, dave);
    const ringing = (await erin.request('call:invite', { to: frank.id })).call;

    // Both participants of each active call are told to negotiate again; no call ends.
    const told = (c: SocialClient, callId: string) => c.waitFor('media:restart', (p) => p.callId === callId, 20_000);
    const restarts = Promise.all([
      told(alice, first.call.id),
      told(bob, first.call.id),
      told(carol, second.call.id),
      told(dave, second.call.id),
    ]);
    let ended = 0;
    for (const c of [alice, bob, carol, dave]) c.on('call:state', (p) => void (p.call.state === 'ended' && ended++));
    const pid = pool.workers()[0].pid;
    process.kill(pid, 'SIGKILL');
    expect((await restarts).map((e) => e.reason)).toEqual(['worker_died', 'worker_died', 'worker_died', 'worker_died']);

    // Messaging does not depend on media.
    expect((await gina.request('dm:send', { to: hank.id, clientMsgId: crypto.randomUUID(), body: 'still here' })).message.seq).toBe(1);

    // The worker is replaced and health recovers.
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${gw.url}/health`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('health did not recover');
      await sleep(100);
    }
    expect(pool.workers()[0].pid).not.toBe(pid);

    // Negotiated again, the first call carries audio both ways; both calls are still active.
    const media = await Promise.all([PlainCallMedia.start(alice, first.call.id), PlainCallMedia.start(bob, first.call.id)]);
    streams.push(...media);
    await Promise.all(media.map((m) => m.ready()));
    const sent = await media[0].send!.sendTone(440, 400);
    expect(await media[1].receive!.waitForPackets(sent, 5000)).toBeGreaterThanOrEqual(sent * 0.9);
    const history = await alice.route('GET /calls', '/calls');
    expect(history.calls.find((c) => c.id === first.call.id)).toMatchObject({ state: 'active' });
    expect(ended).toBe(0);

    // The call that was ringing is answered on the new worker and carries audio.
    await frank.request('call:accept', { callId: ringing.id });
    const send = await PlainSendStream.open(erin, ringing.id, 'audio');
    const recv = await PlainReceiveStream.open(frank, ringing.id, send.producerId);
    streams.push(send, recv);
    const sentRinging = await send.sendTone(440, 400);
    expect(await recv.waitForPackets(sentRinging, 5000)).toBeGreaterThanOrEqual(sentRinging * 0.9);
    for (const [a, callId] of [
      [alice, first.call.id],
      [carol, second.call.id],
      [erin, ringing.id],
    ] as const) {
      await a.request('call:hangup', { callId });
    }
  }, 120_000);
});
