import { befriend, PlainSendStream, SocialClient } from '@app/client';
import { ActiveCallCache } from '@app/calls';
import { MediaService } from '@app/media';
import { refusalCode, startTestGateway, TestGateway, uniqueHandle, waitForValue, sleep } from '@app/testing';

/*
 * Two processes of one service (one database, one Redis). A call's media
 * room lives on the media node it was placed on; when a process that holds
 * no room ends the call, the room must still be closed and its statistics
 * kept.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
describe('a call ended by another gateway process', () => {
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    a = await startTestGateway({ env: { REDIS_URL } });
    // B is a gateway only: every room is on A's node.
    b = await startTestGateway({ db: a.db, env: { REDIS_URL, NODE_ROLE: 'gateway' } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (ok(v) || Date.now() > deadline) return v;
      await sleep(50);
    }
  }

  it('closes the room in the process that holds it and stores its statistics', async () => {
    const aliceOnA = await (await SocialClient.login(a.url, uniqueHandle('alice'))).connect();
    const bobOnA = await (await SocialClient.login(a.url, uniqueHandle('bob'))).connect();
    await befriend(aliceOnA, bobOnA);

    const ringing = await aliceOnA.request('call:invite', { to: bobOnA.id, media: 'audio' });
    const { call } = await bobOnA.request('call:accept', { callId: ringing.call.id });
    const sender = await PlainSendStream.open(aliceOnA, call.id, 'audio');
    await sender.sendTone(440, 200);
    expect((await a.get(MediaService).census()).rooms).toBe(1);

    // Bob hangs up through a socket on the other process, which holds no room.
    const bobOnB = await new SocialClient(b.url, bobOnA.token, bobOnA.user).connect();
    const { call: ended } = await bobOnB.request('call:hangup', { callId: call.id });
    expect(ended).toMatchObject({ state: 'ended', endReason: 'hangup' });

    const census = await until(
      () => a.get(MediaService).census(),
      (c) => c.rooms === 0,
    );
    expect(census).toMatchObject({ rooms: 0, routers: 0, transports: 0, producers: 0 });
    // The end told the node the call is over: an opening of its room that got there late (the
    // answer's, sent beside its statement) is refused instead of leaving a room open.
    await expect(a.get(MediaService).openRoom(call.id, 'audio', [aliceOnA.id, bobOnA.id])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await a.get(MediaService).census()).rooms).toBe(0);
    const history = await until(
      () => aliceOnA.route('GET /calls', '/calls?limit=1'),
      (h) => h.calls[0]?.mediaStats != null,
    );
    expect(history.calls[0]).toMatchObject({ id: call.id, mediaStats: expect.any(Object) });

    sender.close();
    for (const c of [aliceOnA, bobOnA, bobOnB]) c.disconnect();
  });

  it('a stale cached call lets neither a non-participant nor an ended call through', async () => {
    // Everyone on B, whose cache learns the call when Bob answers there; the room is on A's node.
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map(async (name) => (await SocialClient.login(b.url, uniqueHandle(name))).connect()),
    );
    await befriend(alice, bob);
    const ringing = await alice.request('call:invite', { to: bob.id, media: 'audio' });
    const { call } = await bob.request('call:accept', { callId: ringing.call.id });
    const cache = b.get(ActiveCallCache);
    const remembered = cache.get(call.id);
    expect(remembered).toMatchObject({ id: call.id, state: 'active' });
    await alice.request('media:capabilities', { callId: call.id });

    // Participants are checked on every request, cached or not.
    expect(await refusalCode(carol.request('media:capabilities', { callId: call.id }))).toBe('FORBIDDEN');
    expect(await refusalCode(carol.request('media:create-transport', { callId: call.id, direction: 'send', type: 'plain' }))).toBe(
      'FORBIDDEN',
    );
    expect(await refusalCode(carol.request('media:resume', { consumerId: '00000000-0000-4000-8000-000000000000' }))).toBe('NOT_FOUND');

    // The call ends on the other process; B hears of it (NOTIFY) and forgets it...
    const bobOnA = await new SocialClient(a.url, bob.token, bob.user).connect();
    await bobOnA.request('call:hangup', { callId: call.id });
    await waitForValue(async () => (cache.get(call.id) === undefined ? true : undefined));
    // ...then the entry comes back as it was: what B would hold had the notification not arrived yet.
    cache.remember(remembered!);
    expect(cache.get(call.id)?.state).toBe('active');

    expect(await refusalCode(carol.request('media:capabilities', { callId: call.id }))).toBe('FORBIDDEN');
    expect(await refusalCode(alice.request('media:capabilities', { callId: call.id }))).toBe('NOT_FOUND');
    cache.remember(remembered!);
    expect(await refusalCode(alice.request('media:create-transport', { callId: call.id, direction: 'send', type: 'plain' }))).toBe(
      'NOT_FOUND',
    );
    cache.remember(remembered!);
    expect(await refusalCode(bob.request('media:resume', { consumerId: '00000000-0000-4000-8000-000000000000' }))).toBe('NOT_FOUND');
    // A refused stale entry is dropped, and nothing was opened for the ended call.
    expect(cache.get(call.id)).toBeUndefined();
    expect((await a.get(MediaService).census()).rooms).toBe(0);

    for (const c of [alice, bob, carol, bobOnA]) c.disconnect();
  });
});
