import { CallQualityDto, ConsumerAddedDto } from '@app/contracts';
import { PlainCallMedia, PLAIN_RTP_CAPABILITIES, SocialClient } from '@app/client';
import { TestGateway, startTestGateway, uniqueHandle } from '@app/testing';

describe('SDK: media in one request (call:accept with join, media:join) and the typed pushes', () => {
  let gw: TestGateway;
  const clients: SocialClient[] = [];
  const media: PlainCallMedia[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_QUALITY_INTERVAL_MS: '300' } });
  });
  afterEach(() => {
    for (const m of media.splice(0)) m.close();
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await gw.close();
  });

  async function friends(): Promise<[SocialClient, SocialClient]> {
    const [a, b] = await Promise.all([SocialClient.login(gw.url, uniqueHandle('sdka')), SocialClient.login(gw.url, uniqueHandle('sdkb'))]);
    clients.push(a, b);
    await a.http('PUT', `/contacts/${b.id}`, {});
    await b.http('PUT', `/contacts/${a.id}`, {});
    await Promise.all([a.connect(), b.connect()]);
    return [a, b];
  }

  it('acceptWithJoin answers { call, media }; the caller’s later producer reaches the callee as media:consumer-added', async () => {
    const [caller, callee] = await friends();
    const call = await caller.calls.invite(callee.id);
    await callee.calls.waitForCall(call.id);
    const added: ConsumerAddedDto[] = [];
    callee.calls.onConsumerAdded((e) => added.push(e));
    const accepted = await callee.calls.acceptWithJoin(call.id, {
      rtpCapabilities: PLAIN_RTP_CAPABILITIES,
      recv: { type: 'plain', ip: '127.0.0.1', port: 40_999 },
    });
    expect(accepted.call).toMatchObject({ id: call.id, state: 'active' });
    expect(accepted.media?.recv).toMatchObject({ transportId: expect.any(String), ip: expect.any(String), port: expect.any(Number) });
    expect(accepted.media?.consumers).toEqual([]);
    expect(callee.calls.get(call.id)?.state).toBe('active');
    const callerMedia = await PlainCallMedia.start(caller, call.id);
    media.push(callerMedia);
    const pushed = await callee.waitFor('media:consumer-added', (e) => e.callId === call.id);
    expect(pushed).toMatchObject({ producerId: callerMedia.send!.producerId, kind: 'audio', consumerId: expect.any(String) });
    expect(added).toContainEqual(pushed);
  });

  it('two joined participants hear each other, and get call:quality for the call', async () => {
    const [caller, callee] = await friends();
    const call = await caller.calls.invite(callee.id);
    await callee.calls.waitForCall(call.id);
    const calleeMedia = await PlainCallMedia.accept(callee, call.id);
    media.push(calleeMedia);
    await caller.calls.waitForState(call.id, 'active');
    const callerMedia = await PlainCallMedia.start(caller, call.id);
    media.push(callerMedia);
    await Promise.all([callerMedia.ready(), calleeMedia.ready()]);
    const samples: CallQualityDto[] = [];
    caller.calls.onQuality((q) => samples.push(q));
    // Listened for before the tone: a sample with packets comes while it plays (later ones may have none).
    const quality = caller.waitFor('call:quality', (q) => q.callId === call.id && q.legs.some((l) => l.packets > 0), 5000);
    quality.catch(() => undefined);
    const [sentByCaller, sentByCallee] = await Promise.all([callerMedia.send!.sendTone(440, 1000), calleeMedia.send!.sendTone(660, 1000)]);
    await Promise.all([calleeMedia.receive!.waitForPackets(sentByCaller, 3000), callerMedia.receive!.waitForPackets(sentByCallee, 3000)]);
    expect(calleeMedia.receive!.checkTone(440, sentByCaller).passed).toBe(true);
    expect(callerMedia.receive!.checkTone(660, sentByCallee).passed).toBe(true);
    const report = await calleeMedia.receive!.audioReport(440);
    expect(report).toMatchObject({ lossBeforeFec: 0, lossAfterFec: 0 });
    expect(report.mos).toBeGreaterThan(4);
    expect((await quality).legs.map((l) => `${l.direction}/${l.kind}`)).toEqual(expect.arrayContaining(['up/audio', 'down/audio']));
    expect(samples.length).toBeGreaterThan(0);
  });
});
