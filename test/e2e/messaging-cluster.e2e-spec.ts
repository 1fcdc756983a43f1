import crypto from 'node:crypto';
import { SocialClient } from '@app/client';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two gateway processes' worth of gateways on one database and one Redis. */
describe('messaging across two gateways sharing PostgreSQL and Redis', () => {
  let one: TestGateway;
  let two: TestGateway;
  const clients: SocialClient[] = [];

  beforeAll(async () => {
    one = await startTestGateway({ env: { REDIS_URL } });
    two = await startTestGateway({ env: { REDIS_URL }, db: one.db });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await two?.close();
    await one?.close();
  });

  async function on(gw: TestGateway, handle: string): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, handle)).connect();
    clients.push(c);
    return c;
  }

  it('delivers dm:new, dm:read and dm:typing to users connected to the other gateway', async () => {
    const aliceHandle = uniqueHandle('xalice');
    const bobHandle = uniqueHandle('xbob');
    const alice = await on(one, aliceHandle);
    const aliceOnTwo = await on(two, aliceHandle);
    const bob = await on(two, bobHandle);
    expect(alice.id).toBe(aliceOnTwo.id);

    const clientMsgId = crypto.randomUUID();
    const bobHears = bob.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    const aliceOtherDeviceHears = aliceOnTwo.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    const { message } = await alice.request('dm:send', { to: bob.id, clientMsgId, body: 'across gateways' });
    expect((await bobHears).message).toEqual(message);
    expect((await aliceOtherDeviceHears).message).toEqual(message);

    const replyId = crypto.randomUUID();
    const aliceHears = alice.waitFor('dm:new', (p) => p.message.clientMsgId === replyId);
    const reply = await bob.request('dm:send', { to: alice.id, clientMsgId: replyId, body: 'back to you' });
    expect((await aliceHears).message).toEqual(reply.message);
    expect(reply.message.seq).toBe(2);

    // Bob's reply already moved his own mark to 2; Alice reading it tells Bob on the other gateway.
    const readSeen = bob.waitFor('dm:read');
    await alice.request('dm:read', { conversationId: message.conversationId, upToSeq: 2 });
    expect(await readSeen).toEqual({ conversationId: message.conversationId, readerId: alice.id, upToSeq: 2 });

    const typing = bob.waitFor('dm:typing');
    await alice.request('dm:typing', { to: bob.id });
    expect(await typing).toEqual({ from: alice.id });
  });

  it('keeps one gapless seq when both gateways write into one conversation at once', async () => {
    const a = await on(one, uniqueHandle('xa'));
    const b = await on(two, uniqueHandle('xb'));
    const acks = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? a : b).request('dm:send', { to: i % 2 ? b.id : a.id, clientMsgId: crypto.randomUUID(), body: `m${i}` }),
      ),
    );
    expect(acks.map((x) => x.message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    // A resend through the other gateway is the same message.
    const first = acks[1].message; // sent by a through gateway one
    const viaTwo = await on(two, a.user.handle);
    const again = await viaTwo.request('dm:send', { to: b.id, clientMsgId: first.clientMsgId, body: first.body });
    expect(again.message).toEqual(first);
    const sync = await b.request('dm:sync', {});
    expect(sync.messages).toHaveLength(60);
  });
});
