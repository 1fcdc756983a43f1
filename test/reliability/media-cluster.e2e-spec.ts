import { befriend, PlainCallMedia, PlainReceiveStream, PlainSendStream, SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, sleep } from '@app/testing';
import { exchangeTones, nodeIdOf, roomNodeOf } from '../support/media-nodes';
import { freePort } from '@app/harness';

/*
 * One service of several OS processes (same database, same Redis): two
 * gateways (NODE_ROLE=gateway) and two media nodes (NODE_ROLE=media). Users
 * on different gateways hold a call with tones both ways; the room's node is
 * SIGKILLed and the audio comes back on both sides by itself (media:restart,
 * then negotiation again), found dead by its Redis connections closing
 * long before its heartbeat expires; a gateway is SIGKILLed and its user, reconnected
 * to the other gateway, hears audio again; a draining node moves its rooms
 * without ending the call; a call whose node is unreachable is answered
 * within the timeout. And one NODE_ROLE=all process killed mid-call and
 * started again: the clients reconnect and the audio returns.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = { REDIS_URL, MEDIA_WORKERS: '1', CALL_RECONNECT_GRACE_MS: '30000', MEDIA_REQUEST_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' };

interface Legs {
  sends: PlainSendStream[];
  receives: PlainReceiveStream[];
  close(): void;
}

/** Both sides send a tone and receive the other's, negotiated from media:capabilities. */
async function negotiate(a: SocialClient, b: SocialClient, callId: string): Promise<Legs> {
  await Promise.all([a, b].map((c) => c.request('media:capabilities', { callId })));
  const sends = await Promise.all([PlainSendStream.open(a, callId, 'audio'), PlainSendStream.open(b, callId, 'audio')]);
  const receives = await Promise.all([
    PlainReceiveStream.open(a, callId, sends[1].producerId),
    PlainReceiveStream.open(b, callId, sends[0].producerId),
  ]);
  return { sends, receives, close: () => [...sends, ...receives].forEach((s) => s.close()) };
}

async function activeCall(a: SocialClient, b: SocialClient): Promise<string> {
  await befriend(a, b);
  const ringing = await a.request('call:invite', { to: b.id });
  return (await b.request('call:accept', { callId: ringing.call.id })).call.id;
}

describe('calls across processes: gateways and media nodes', () => {
  let db: TestDatabase;
  const processes: SpawnedGateway[] = [];
  const clients: SocialClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  // Each test has its own processes: nodes left running would serve the next test's calls.
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const p of processes.splice(0)) {
      if (p.process.exitCode === null && p.process.signalCode === null) {
        p.process.kill('SIGCONT');
        await p.kill();
      }
    }
  });
  afterAll(async () => {
    await db?.drop();
  });

  const spawn = async (env: Record<string, string>) => {
    const p = await spawnGateway(db.url, { ...BASE, ...env });
    processes.push(p);
    return p;
  };
  const client = async (url: string, prefix: string) => {
    const c = await (await SocialClient.login(url, uniqueHandle(prefix))).connect();
    clients.push(c);
    return c;
  };

  it('holds a call between gateways, and brings its audio back when its node or a gateway is killed', async () => {
    // Gateways first: the media nodes' heartbeats are what they place rooms on.
    const [gwA, gwB] = await Promise.all([spawn({ NODE_ROLE: 'gateway' }), spawn({ NODE_ROLE: 'gateway' })]);
    // Heartbeats that stay true for 10 s: a node found lost sooner was found by its vanished Redis subscription.
    const slowTtl = { NODE_ROLE: 'media', MEDIA_HEARTBEAT_TTL_MS: '10000' };
    const [node1, node2] = await Promise.all([spawn(slowTtl), spawn(slowTtl)]);
    const nodes = new Map([
      [nodeIdOf(node1), node1],
      [nodeIdOf(node2), node2],
    ]);
    const alice = await client(gwA.url, 'alice');
    const bob = await client(gwB.url, 'bob');
    const callId = await activeCall(alice, bob);
    // The SDK's call media negotiates again by itself on media:restart.
    const media = await Promise.all([PlainCallMedia.start(alice, callId), PlainCallMedia.start(bob, callId)]);
    const current = (): Legs => ({
      sends: media.map((m) => m.send!),
      receives: media.map((m) => m.receive!),
      close: () => media.forEach((m) => m.close()),
    });
    await Promise.all(media.map((m) => m.ready()));
    await exchangeTones(current());

    // The room's node dies: both are told, negotiate again on their own, and the audio is back.
    const first = (await roomNodeOf(db.url, callId))!;
    expect(nodes.has(first)).toBe(true);
    const killedAt = Date.now();
    await nodes.get(first)!.kill();
    for (let i = 0; media.some((m) => m.restarts.length === 0); i++) {
      if (i > 200) throw new Error('no media:restart after the node was killed');
      await sleep(50);
    }
    expect(media.map((m) => m.restarts)).toEqual([['node_lost'], ['node_lost']]);
    // Told well before the dead node's last heartbeat expired (10 s).
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    await Promise.all(media.map((m) => m.ready()));
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    const second = (await roomNodeOf(db.url, callId))!;
    expect(second).not.toBe(first);
    expect(nodes.has(second)).toBe(true);
    const legs = current();
    await exchangeTones(legs);

    // Alice's gateway dies. Her media never went through it; she reconnects to
    // the other gateway within the grace, hears bob again and can still act on the call.
    await gwA.kill();
    alice.disconnect();
    const aliceAgain = await new SocialClient(gwB.url, alice.token, alice.user).connect();
    clients.push(aliceAgain);
    await exchangeTones(legs);
    const { calls } = await aliceAgain.route('GET /calls', '/calls?limit=1');
    expect(calls[0]).toMatchObject({ id: callId, state: 'active' });

    // A request for a call whose node does not answer gets a protocol error in time, never silence.
    await nodes.get(second)!.process.kill('SIGSTOP');
    const started = Date.now();
    const frozen = await aliceAgain.rawRequest('media:capabilities', { callId });
    expect(frozen).toMatchObject({ ok: false, error: { code: expect.any(String) } });
    expect(Date.now() - started).toBeLessThan(5_000);
    nodes.get(second)!.process.kill('SIGCONT');
    // A node that only failed to answer in time (frozen, not dead) keeps its rooms.
    expect(await roomNodeOf(db.url, callId)).toBe(second);

    await aliceAgain.request('call:hangup', { callId });
    legs.close();
  }, 180_000);

  it('moves a draining node’s rooms without ending their calls, then the node exits 0', async () => {
    const gw = await spawn({ NODE_ROLE: 'gateway' });
    const [node1, node2] = await Promise.all([spawn({ NODE_ROLE: 'media' }), spawn({ NODE_ROLE: 'media' })]);
    const nodes = new Map([
      [nodeIdOf(node1), node1],
      [nodeIdOf(node2), node2],
    ]);
    const alice = await client(gw.url, 'alice');
    const bob = await client(gw.url, 'bob');
    const callId = await activeCall(alice, bob);
    let legs = await negotiate(alice, bob, callId);
    await exchangeTones(legs);
    const from = (await roomNodeOf(db.url, callId))!;
    const restarted = Promise.all([alice, bob].map((c) => c.waitFor('media:restart', (e) => e.callId === callId, 15_000)));
    const draining = nodes.get(from)!;
    const exit = draining.stop();
    expect((await restarted).map((e) => e.reason)).toEqual(['drain', 'drain']);
    expect({ exit: await exit, logs: (await exit) === 0 ? [] : draining.logs.slice(-8) }).toEqual({ exit: 0, logs: [] });
    const to = await roomNodeOf(db.url, callId);
    expect(to).not.toBe(from);
    legs.close();
    // Each side's producer in the new room replaces the one that died with the old room: the
    // other side hears the old one closed.
    const [aliceOld, bobOld] = legs.sends.map((s) => s.producerId);
    const oldClosed = Promise.all([
      bob.waitFor('media:producer-closed', (e) => e.producerId === aliceOld, 15_000),
      alice.waitFor('media:producer-closed', (e) => e.producerId === bobOld, 15_000),
    ]);
    legs = await negotiate(alice, bob, callId);
    expect((await oldClosed).map((e) => [e.callId, e.reason])).toEqual([
      [callId, 'replaced'],
      [callId, 'replaced'],
    ]);
    await exchangeTones(legs);
    const { calls } = await alice.route('GET /calls', '/calls?limit=1');
    expect(calls[0]).toMatchObject({ id: callId, state: 'active' });
    await bob.request('call:hangup', { callId });
    legs.close();
  }, 180_000);

  it('ends the call with media_failure only when no media node can take its room', async () => {
    const gw = await spawn({ NODE_ROLE: 'gateway', MEDIA_RECOVERY_TIMEOUT_MS: '1000' });
    const node = await spawn({ NODE_ROLE: 'media' });
    const alice = await client(gw.url, 'alice');
    const bob = await client(gw.url, 'bob');
    const callId = await activeCall(alice, bob);
    const ended = alice.waitFor('call:state', (e) => e.call.id === callId && e.call.state === 'ended', 15_000);
    await node.kill();
    expect((await ended).call.endReason).toBe('media_failure');
  }, 120_000);

  it('brings the audio back after the one NODE_ROLE=all process is killed and started again', async () => {
    const port = String(await freePort());
    const first = await spawn({ NODE_ROLE: 'all', PORT: port });
    const alice = await client(first.url, 'alice');
    const bob = await client(first.url, 'bob');
    const callId = await activeCall(alice, bob);
    let legs = await negotiate(alice, bob, callId);
    await exchangeTones(legs);

    await first.kill();
    legs.close();
    const reconnected = Promise.all(
      [alice, bob].map((c) => new Promise<void>((resolve) => c.onLifecycle('connected', (e) => e.reconnect && resolve()))),
    );
    await spawn({ NODE_ROLE: 'all', PORT: port });
    await reconnected;
    // The clients start again from media:capabilities; the room is opened again for them.
    legs = await negotiate(alice, bob, callId);
    await exchangeTones(legs);
    await alice.request('call:hangup', { callId });
    legs.close();
  }, 180_000);
});
