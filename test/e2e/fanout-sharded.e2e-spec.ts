import crypto from 'node:crypto';
import { AdminClient, befriend, SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TEST_ADMIN_TOKEN, TestDatabase, uniqueHandle, waitForValue } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Adapter messages a process received from the others, by type (socketio_adapter_messages_received_total). */
async function adapterMessages(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^socketio_adapter_messages_received_total\{type="([A-Z_0-9]+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** Every event a client's socket receives, in order (its name and payload). */
function recorder(client: SocialClient): { event: string; payload: unknown }[] {
  const seen: { event: string; payload: unknown }[] = [];
  client.socket!.onAny((event: string, payload: unknown) => seen.push({ event, payload }));
  return seen;
}

/**
 * Resolves once a DM from `from` reached every one of `sockets` (all one
 * user's): a socket receives pushes in the order they were sent, so every
 * push sent to them before has arrived too. (A DM, not a typing notice:
 * typing is limited to one a second per conversation.)
 */
async function fence(from: SocialClient, sockets: SocialClient[]): Promise<void> {
  const clientMsgId = crypto.randomUUID();
  const arrived = sockets.map((s) => s.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId));
  await from.request('dm:send', { to: sockets[0].id, clientMsgId, body: 'fence' });
  await Promise.all(arrived);
}

/**
 * Sharded fan-out across three gateway processes sharing PostgreSQL and
 * Redis: each event reaches exactly the sockets it is for (once each), and
 * a user's events travel only to the processes holding that user's sockets.
 */
describe('sharded fan-out across three gateway processes', () => {
  let db: TestDatabase;
  let gateways: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { REDIS_URL, MEDIA_WORKERS: '1' };
    gateways = await Promise.all([spawnGateway(db.url, env), spawnGateway(db.url, env), spawnGateway(db.url, env)]);
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(gateways.map((g) => g.stop()));
    await db?.drop();
  });

  async function on(gw: SpawnedGateway, handle: string): Promise<SocialClient> {
    const c = await (await SocialClient.login(gw.url, handle)).connect();
    clients.push(c);
    return c;
  }

  it('delivers DMs, typing, call events, flag changes and revocations to exactly the right sockets', async () => {
    const [a, b, c] = gateways;
    const aliceHandle = uniqueHandle('fa');
    // Alice on A and (a second device) on B; Bob on B; Carol on C.
    const alice = await on(a, aliceHandle);
    const aliceOnB = await on(b, aliceHandle);
    const bob = await on(b, uniqueHandle('fb'));
    const carol = await on(c, uniqueHandle('fc'));
    await befriend(alice, bob);
    await befriend(bob, carol);
    await befriend(alice, carol);
    const sockets = { alice, aliceOnB, bob, carol };
    const seen = Object.fromEntries(Object.entries(sockets).map(([name, s]) => [name, recorder(s)])) as Record<
      keyof typeof sockets,
      ReturnType<typeof recorder>
    >;
    const count = (who: keyof typeof sockets, event: string, match: (p: any) => boolean = () => true) =>
      seen[who].filter((e) => e.event === event && match(e.payload)).length;
    /** Every push sent so far to these users has arrived (see pushFence), from a sender on a fourth socket. */
    const settle = async () => {
      await fence(carol, [alice, aliceOnB]);
      await fence(carol, [bob]);
      await fence(bob, [carol]);
    };
    await settle();
    const cBefore = await adapterMessages(c.url);

    // A DM from Alice (on A) to Bob (on B): Bob once, Alice's other device once, not the sending socket, not Carol.
    const clientMsgId = crypto.randomUUID();
    const bobHears = bob.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    const ownDeviceHears = aliceOnB.waitFor('dm:new', (p) => p.message.clientMsgId === clientMsgId);
    await alice.request('dm:send', { to: bob.id, clientMsgId, body: 'sharded' });
    await Promise.all([bobHears, ownDeviceHears]);
    await alice.request('dm:typing', { to: bob.id });
    await fence(alice, [bob]);
    await fence(bob, [alice, aliceOnB]);
    const isThisDm = (p: any) => p.message.clientMsgId === clientMsgId;
    expect([count('bob', 'dm:new', isThisDm), count('aliceOnB', 'dm:new', isThisDm), count('alice', 'dm:new', isThisDm)]).toEqual([
      1, 1, 0,
    ]);
    expect(count('bob', 'dm:typing', (p) => p.from === alice.id)).toBe(1);
    expect(count('aliceOnB', 'dm:typing') + count('alice', 'dm:typing') + count('carol', 'dm:typing')).toBe(0);
    // Process C holds no socket of Alice or Bob: none of their events was sent to it.
    const cAfter = await adapterMessages(c.url);
    expect(cAfter.BROADCAST ?? 0).toBe(cBefore.BROADCAST ?? 0);

    // A call from Bob (on B) to Carol (on C), accepted: each side's every socket hears it once, Alice never.
    await settle();
    const incoming = carol.waitFor('call:incoming');
    const { call } = await bob.request('call:invite', { to: carol.id });
    expect((await incoming).call.id).toBe(call.id);
    const bobSeesActive = bob.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'active');
    await carol.request('call:accept', { callId: call.id });
    await bobSeesActive;
    await bob.request('call:hangup', { callId: call.id });
    await settle();
    expect(count('carol', 'call:incoming', (p) => p.call.id === call.id)).toBe(1);
    expect(count('bob', 'call:state', (p) => p.call.id === call.id && p.call.state === 'active')).toBe(1);
    // Carol's events did travel to C (the count above is not blind).
    expect((await adapterMessages(c.url)).BROADCAST ?? 0).toBeGreaterThan(cAfter.BROADCAST ?? 0);
    for (const who of ['alice', 'aliceOnB'] as const) {
      expect(seen[who].filter((e) => e.event.startsWith('call:')).length).toBe(0);
    }

    // A flag change: every socket on every process gets its own evaluation, once.
    const key = `fanout_${crypto.randomBytes(4).toString('hex')}`;
    const pushed = Object.values(sockets).map((s) => s.waitFor('flags:changed', (p) => key in p.flags, 10_000));
    await new AdminClient(a.url, TEST_ADMIN_TOKEN).setFlag(key, { enabled: true, allowUserIds: [bob.id] });
    const flags = await Promise.all(pushed);
    expect(flags.map((p) => p.flags[key])).toEqual([false, false, true, false]);
    await settle();
    for (const who of Object.keys(sockets) as (keyof typeof sockets)[]) {
      expect(count(who, 'flags:changed', (p) => key in p.flags)).toBe(1);
    }

    // Revoking Alice's tokens (asked on C, which holds none of her sockets) closes both her sockets, nobody else's.
    const closed = [alice, aliceOnB].map((s) => new Promise<void>((resolve) => s.socket!.once('disconnect', () => resolve())));
    await new AdminClient(c.url, TEST_ADMIN_TOKEN).revokeTokens(alice.id);
    await Promise.all(closed);
    await fence(carol, [bob]);
    await fence(bob, [carol]);
    expect([bob.connected, carol.connected]).toEqual([true, true]);
    // The revocation is announced to every process (a server-side emit on the shared channel).
    await waitForValue(async () => ((await adapterMessages(a.url)).SERVER_SIDE_EMIT ?? 0) >= 1 || undefined);
  });
});
