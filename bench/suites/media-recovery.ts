import dgram from 'node:dgram';
import { befriend, inBatches, loginUsers } from '../support/bench-users';
import { newSsrc } from '../support/call-topology';
import { benchRedisUrl, startBenchGateway } from '../support/gateway-process';
import { LatencySamples, LatencySummary } from '../support/latency-samples';
import { consumeAndResume, markedRtpPacket, openRecvTransport, openSendSide, rtpMarkerOf } from '../support/protocol-call';

export interface MediaRecoveryResult {
  calls: number;
  /** Kill of the node → both participants told (media:restart), per call. */
  toldMs: LatencySummary;
  /** Kill of the node → first audio packet of the renegotiated call at the callee, per call. */
  audioBackMs: LatencySummary;
  recovered: number;
  /** Calls that ended instead of coming back (target 0). */
  ended: number;
  /** Calls whose audio did not come back within the wait. */
  notBack: number;
  method: string;
}

const METHOD =
  'A gateway (NODE_ROLE=gateway) and one media node (NODE_ROLE=media), Redis between them. N calls are answered (all rooms on that ' +
  'node) and a second node is started; the first is SIGKILLed. For each call, from the kill: both participants get ' +
  'media:restart; then the caller negotiates again (capabilities, plain send transport, produce, RTP every 20 ms) and the callee ' +
  '(capabilities, plain recv transport, connect, consume, resume) until the first packet arrives. Signalling of all calls runs concurrently. ' +
  'Recovery settings as configured (defaults: MEDIA_HEARTBEAT_MS 250, MEDIA_HEARTBEAT_TTL_MS 1000, MEDIA_RECOVERY_SWEEP_MS 250, ' +
  'MEDIA_RECOVERY_CONCURRENCY 32; a killed node is found by its vanished Redis subscription before its heartbeat expires).';

/** How long the audio of N active calls takes to come back when the media node holding them is killed. */
export async function runMediaRecoveryBench(o: { calls: number }, log: (s: string) => void): Promise<MediaRecoveryResult> {
  const redis = { REDIS_URL: benchRedisUrl(), CALL_RECONNECT_GRACE_MS: '120000' };
  const first = await startBenchGateway({ ...redis, NODE_ROLE: 'media' });
  const shared = { db: first.db };
  const gw = await startBenchGateway({ ...redis, NODE_ROLE: 'gateway' }, shared);
  let second: Awaited<ReturnType<typeof startBenchGateway>> | undefined;
  const sender = dgram.createSocket('udp4');
  const receiver = dgram.createSocket('udp4');
  const timers: NodeJS.Timeout[] = [];
  try {
    await Promise.all([sender, receiver].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    const receiverPort = receiver.address().port;
    const users = await loginUsers(gw.url, 2 * o.calls, 'recover', 16);
    await inBatches(users, 32, (u) => u.connect());
    const pairs = Array.from({ length: o.calls }, (_, i) => [users[2 * i], users[2 * i + 1]] as const);
    await inBatches(pairs, 8, ([a, b]) => befriend(a, b));
    const callIds = await inBatches(pairs, 8, async ([a, b]) => {
      const { call } = await a.request('call:invite', { to: b.id });
      await b.request('call:accept', { callId: call.id });
      return call.id;
    });
    second = await startBenchGateway({ ...redis, NODE_ROLE: 'media' }, shared);
    log(`media recovery: ${o.calls} calls on one node; killing it`);

    // First packets by marker (the call's index + 1).
    const arrivals = new Map<number, (t: number) => void>();
    receiver.on('message', (msg: Buffer) => {
      const marker = rtpMarkerOf(msg);
      const resolve = marker === null ? undefined : arrivals.get(marker);
      if (resolve) {
        arrivals.delete(marker!);
        resolve(performance.now());
      }
    });

    const told = new LatencySamples();
    const back = new LatencySamples();
    let ended = 0;
    let notBack = 0;
    const killedAt = performance.now();
    const perCall = pairs.map(async ([caller, callee], index) => {
      const callId = callIds[index];
      const marker = index + 1;
      const endedEvent = caller
        .waitFor('call:state', (e) => e.call.id === callId && e.call.state === 'ended', 60_000)
        .then(
          () => 'ended' as const,
          () => 'timeout' as const,
        );
      const restarts = Promise.all(
        [caller, callee].map((c) => c.waitFor('media:restart', (e) => e.callId === callId, 30_000).then(() => performance.now())),
      );
      const outcome = await Promise.race([restarts.then((t) => Math.max(...t)), endedEvent]);
      if (outcome === 'ended' || outcome === 'timeout') {
        if (outcome === 'ended') ended++;
        else notBack++;
        return;
      }
      told.add(outcome - killedAt);
      try {
        const timing = { serverMs: 0 };
        const firstPacket = new Promise<number>((resolve) => arrivals.set(marker, resolve));
        const producerAdded = callee.waitFor('media:producer-added', (e) => e.callId === callId, 30_000);
        const ssrc = newSsrc();
        const send = await openSendSide(caller, callId, ssrc, timing);
        let seq = 0;
        const sendOne = () => sender.send(markedRtpPacket(ssrc, seq++, marker), send.sendPort, '127.0.0.1');
        sendOne();
        timers.push(setInterval(sendOne, 20));
        const { rtpCapabilities } = await callee.request('media:capabilities', { callId });
        const recvTransportId = await openRecvTransport(callee, callId, receiverPort, timing);
        const { producerId } = await producerAdded;
        await consumeAndResume(callee, recvTransportId, producerId, rtpCapabilities as Record<string, unknown>, timing);
        const t = await Promise.race([firstPacket, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no packet')), 10_000))]);
        back.add(t - killedAt);
      } catch (err) {
        notBack++;
        log(`  call ${index}: ${(err as Error).message}`);
      }
    });
    first.child.kill('SIGKILL');
    await Promise.all(perCall);
    for (const t of timers) clearInterval(t);
    for (const u of users) u.disconnect();
    const result: MediaRecoveryResult = {
      calls: o.calls,
      toldMs: told.summary(),
      audioBackMs: back.summary(),
      recovered: back.count,
      ended,
      notBack,
      method: METHOD,
    };
    log(
      `  told p50/p99 ${result.toldMs.p50}/${result.toldMs.p99} ms; audio back p50/p99 ${result.audioBackMs.p50}/${result.audioBackMs.p99} ms; ` +
        `${result.recovered} back, ${ended} ended, ${notBack} not back`,
    );
    return result;
  } finally {
    for (const t of timers) clearInterval(t);
    sender.close();
    receiver.close();
    await second?.close();
    await gw.close();
    await first.close();
  }
}
