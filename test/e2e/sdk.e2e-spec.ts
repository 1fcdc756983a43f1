import { AdminClient, befriend, ClientError, isErrorCode, newClientMsgId, SocialClient } from '@app/client';
import type { MessageDto } from '@app/contracts';
import { startTestGateway, TestGateway, TEST_ADMIN_TOKEN, uniqueHandle, sleep } from '@app/testing';

/** The typed SDK against a real gateway: every area through the real protocol. */
describe('client SDK', () => {
  let gw: TestGateway;
  const open: SocialClient[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ env: { CALL_RING_TIMEOUT_MS: '20000' } });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function user(prefix: string): Promise<SocialClient> {
    const client = await (await SocialClient.login(gw.url, uniqueHandle(prefix))).connect();
    open.push(client);
    return client;
  }

  /** Collects what the inbox hands over, with how it came. */
  function collect(client: SocialClient): { message: MessageDto; via: string }[] {
    const got: { message: MessageDto; via: string }[] = [];
    client.messages.onMessage((message, via) => got.push({ message, via }));
    return got;
  }

  async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await sleep(20);
    }
  }

  it('manages users, contacts and blocks, turning refusals into typed errors', async () => {
    const [ann, bob] = await Promise.all([user('ann'), user('bob')]);
    expect(await ann.users.me()).toEqual(ann.user);
    expect(await ann.users.byHandle(bob.user.handle)).toEqual(bob.user);
    const missing = await ann.users.byHandle('nobody_has_this').catch((e) => e);
    expect(missing).toBeInstanceOf(ClientError);
    expect(missing.code).toBe('NOT_FOUND');

    const added = await ann.contacts.add(bob.id);
    expect(added).toMatchObject({ user: bob.user, favorite: false, mutual: false });
    await bob.contacts.add(ann.id);
    expect(await ann.contacts.setFavorite(bob.id, true)).toMatchObject({ favorite: true, mutual: true });
    expect(await ann.contacts.list()).toEqual([expect.objectContaining({ user: bob.user, favorite: true, mutual: true })]);

    await bob.contacts.block(ann.id);
    const blocked = await ann.messages.send(bob.id, 'hello?').catch((e) => e);
    expect(isErrorCode(blocked, 'BLOCKED')).toBe(true);
    await bob.contacts.unblock(ann.id);
    await ann.contacts.remove(bob.id);
    expect(await ann.contacts.list()).toEqual([]);

    const invalid = await ann.contacts.add('not-a-uuid').catch((e) => e);
    expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
  });

  it('sends messages that the inbox hands over once, and resends safely with the same clientMsgId', async () => {
    const [ann, bob] = await Promise.all([user('ann'), user('bob')]);
    const got = collect(bob);
    const first = await ann.messages.send(bob.id, 'hi bob');
    expect(first).toMatchObject({ senderId: ann.id, recipientId: bob.id, body: 'hi bob', seq: 1 });

    const clientMsgId = newClientMsgId();
    const second = await ann.messages.send(bob.id, 'once only', { clientMsgId });
    const again = await ann.messages.send(bob.id, 'once only', { clientMsgId });
    expect(again.id).toBe(second.id);

    await until(() => got.length >= 2);
    await bob.messages.sync(); // the same messages again through dm:sync: still handed over once
    expect(got.map((g) => g.message.id)).toEqual([first.id, second.id]);

    const conversations = await bob.messages.conversations();
    expect(conversations).toEqual([expect.objectContaining({ peer: ann.user })]);
    const page = await bob.messages.history(conversations[0].id);
    expect(page.messages.map((m) => m.id)).toEqual([second.id, first.id]);
    expect((await bob.messages.historyOverHttp(conversations[0].id, { limit: 1 })).messages).toHaveLength(1);
    await bob.messages.markRead(conversations[0].id, second.seq);
    expect((await bob.messages.conversations())[0].unread).toBe(0);

    const tooLong = await ann.messages.send(bob.id, 'x'.repeat(4001)).catch((e) => e);
    expect(tooLong).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('catches up through dm:sync after being away, missing nothing and duplicating nothing', async () => {
    const [ann, bob] = await Promise.all([user('ann'), user('bob')]);
    const got = collect(bob);
    const live = await ann.messages.send(bob.id, 'while online');
    await until(() => got.length === 1);

    bob.disconnect();
    const whileAway = [];
    for (let i = 0; i < 3; i++) whileAway.push(await ann.messages.send(bob.id, `while away ${i}`));
    await bob.connect();
    await until(() => got.length === 4);
    expect(got.map((g) => g.message.id)).toEqual([live.id, ...whileAway.map((m) => m.id)]);
    expect(got.slice(1).every((g) => g.via === 'sync')).toBe(true);
  });

  it('resynchronises by itself after the connection drops', async () => {
    const [ann, bob] = await Promise.all([user('ann'), user('bob')]);
    const got = collect(bob);
    await ann.messages.send(bob.id, 'before');
    await until(() => got.length === 1);
    const syncsBefore = bob.messages.syncCount;
    const reconnected = new Promise<boolean>((resolve) => bob.onLifecycle('connected', (e) => resolve(e.reconnect)));

    bob.socket!.io.engine.close(); // a network drop: socket.io reconnects on its own
    const during = await Promise.all([0, 1, 2].map((i) => ann.messages.send(bob.id, `during ${i}`)));
    expect(await reconnected).toBe(true);
    await until(() => bob.messages.syncCount > syncsBefore && got.length === 4);
    expect(new Set(got.map((g) => g.message.id))).toEqual(new Set([got[0].message.id, ...during.map((m) => m.id)]));
  });

  it('resends a message whose ack was lost with the connection, storing it once', async () => {
    const [ann, bob] = await Promise.all([user('ann'), user('bob')]);
    const clientMsgId = newClientMsgId();
    const sending = ann.messages.send(bob.id, 'through the drop', { clientMsgId });
    ann.socket!.io.engine.close();
    const message = await sending;
    expect(message).toMatchObject({ clientMsgId, body: 'through the drop' });
    const conversation = (await bob.messages.conversations())[0];
    const page = await bob.messages.history(conversation.id);
    expect(page.messages.filter((m) => m.clientMsgId === clientMsgId)).toHaveLength(1);
  });

  it('places, answers and ends calls, tracking their state from acks and pushes', async () => {
    const [ann, bob, cat] = await Promise.all([user('ann'), user('bob'), user('cat')]);
    await befriend(ann, bob);

    const notFriends = await ann.calls.invite(cat.id).catch((e) => e);
    expect(isErrorCode(notFriends, 'NOT_FRIENDS')).toBe(true);

    const incoming = bob.calls.waitForIncoming(ann.id);
    const call = await ann.calls.invite(bob.id);
    expect(call).toMatchObject({ callerId: ann.id, calleeId: bob.id, media: 'audio', state: 'ringing' });
    expect((await incoming).id).toBe(call.id);
    const busy = await cat.calls.invite(ann.id).catch((e) => e);
    expect(busy).toBeInstanceOf(ClientError); // NOT_FRIENDS or BUSY: refused either way

    const annSeesActive = ann.calls.waitForState(call.id, 'active');
    const accepted = await bob.calls.accept(call.id);
    expect(accepted.state).toBe('active');
    expect(Date.parse(accepted.maxEndsAt!) - Date.parse(accepted.answeredAt!)).toBe(gw.config.calls.maxDurationMs);
    await annSeesActive;
    expect(ann.calls.get(call.id)?.state).toBe('active');

    const wrongSide = await ann.calls.accept(call.id).catch((e) => e);
    expect(wrongSide).toBeInstanceOf(ClientError);

    const bobSeesEnd = bob.calls.waitForState(call.id, 'ended');
    const ended = await ann.calls.hangup(call.id);
    expect(ended).toMatchObject({ state: 'ended', endReason: 'hangup' });
    expect((await bobSeesEnd).endReason).toBe('hangup');
    expect((await ann.calls.history()).map((c) => c.id)).toContain(call.id);

    const declined = bob.calls.waitForIncoming(ann.id).then((c) => bob.calls.decline(c.id));
    const second = await ann.calls.invite(bob.id);
    expect((await declined).endReason).toBe('declined');
    expect((await ann.calls.waitForState(second.id, 'ended')).endReason).toBe('declined');
  });

  it('reads flags, follows flags:changed, and drives the admin API', async () => {
    const ann = await user('ann');
    const admin = new AdminClient(gw.url, TEST_ADMIN_TOKEN);
    expect((await admin.listFlags()).map((f) => f.key)).toContain('video_call');
    expect(await ann.flags.get()).toMatchObject({ video_call: false });

    const changed = ann.waitFor('flags:changed', ({ flags }) => flags.video_call === true);
    await admin.setFlag('video_call', { enabled: true, allowUserIds: [ann.id] });
    await changed;
    expect(ann.flags.isEnabled('video_call')).toBe(true);
    expect((await admin.flagAudit('video_call')).length).toBeGreaterThan(0);
    await admin.setFlag('video_call', { enabled: false, allowUserIds: [] });

    const refused = await new AdminClient(gw.url, 'wrong-token-123').listFlags().catch((e) => e);
    expect(refused).toBeInstanceOf(ClientError);
    expect([401, 403]).toContain(refused.status);
  });
});
