import { befriend, PlainSendStream, SocialClient } from '@app/client';
import type { CallDto } from '@app/contracts';
import { MediaService } from '@app/media';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';

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
      await new Promise((r) => setTimeout(r, 50));
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
    const history = await until(
      () => aliceOnA.http<{ calls: CallDto[] }>('GET', '/calls?limit=1'),
      (h) => h.calls[0]?.mediaStats != null,
    );
    expect(history.calls[0]).toMatchObject({ id: call.id, mediaStats: expect.any(Object) });

    sender.close();
    for (const c of [aliceOnA, bobOnA, bobOnB]) c.disconnect();
  });
});
