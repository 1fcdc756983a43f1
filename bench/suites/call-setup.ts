import dgram from 'node:dgram';
import { befriend, inBatches, loginUsers } from '../support/bench-users';
import { PLAIN_RTP_CAPABILITIES } from '@app/client';
import { newSsrc, opusRtpParameters } from '../support/call-topology';
import { CHECKPOINTED_BEFORE, logUnplannedCheckpoints, startAfterCheckpoint, SuiteCheckpoints } from '../support/database-checkpoints';
import { benchRedisUrl, startBenchGateway } from '../support/gateway-process';
import { LatencySamples, LatencySummary } from '../support/latency-samples';
import { machineCpuOver, MachineCpuUse, sampleMachineCpu } from '../support/machine-usage';
import { cpuPerOp, mainThreadSchedule, MainThreadTime, preciseCpuSeconds, sampleCpu } from '../support/process-usage';
import {
  consumeAndResume,
  markedRtpPacket,
  openRecvTransport,
  openSendSide,
  rtpMarkerOf,
  timed,
  TimedRequests,
} from '../support/protocol-call';

export type CallSetupResult =
  | {
      calls: number;
      failed: number;
      total: LatencySummary;
      server: LatencySummary;
      client: LatencySummary;
      /** Round trip of each request (summed when a call makes it twice), p50/p99 ms. */
      byRequest: Record<string, { p50: number; p99: number }>;
      /**
       * The gateway's own time per request, mean ms (its socket_event_duration_seconds over the
       * measured calls): from the event's arrival in its handler pipeline to its answer being sent.
       * The rest of a round trip is the socket, both ends' framing and waiting for a core.
       */
      handlingMs?: Record<string, number>;
      /**
       * CPU of the gateway process per call set up, in ms: its user + system
       * time over the whole loop (invite to hangup, media requests included)
       * divided by the calls that succeeded. Workers are separate processes
       * and not counted.
       */
      gatewayCpuMsPerCall: number;
      /**
       * The gateway's CPU from the invite to the callee's first audio packet
       * (the set-up alone), and from the hangup until both heard the call's
       * entry (the end), per call, in ms; read per call from its threads' run
       * time, so background work (timer polls, heartbeats) counts where it falls.
       */
      gatewayCpuMsPerSetup: number;
      gatewayCpuMsPerHangup: number;
      /**
       * The gateway's main thread (its JavaScript) over the set-up, per call, in ms: `running` on a
       * core, and `waitingForCore`, runnable but queued while other processes (the load generator,
       * PostgreSQL, the media worker) had the cores. The rest of invite → first audio is the socket
       * hops, waits for those processes' answers and the client's own steps. Absent in results
       * written before.
       */
      gatewayMainThreadMsPerSetup?: MainThreadTime;
      /**
       * The same for the load generator (this process: both participants' SDKs, their socket.io
       * clients, the RTP sender). A request's round trip runs from the SDK's call to its checked
       * answer, so the server share counts the client's own work on the answer and on the pushes
       * that arrive meanwhile. Absent in results written before.
       */
      loadGeneratorMainThreadMsPerSetup?: MainThreadTime;
      /**
       * Per request, mean ms its main threads ran from just before it was sent to just after its
       * answer was checked: only with BENCH_SETUP_THREADS_BY_REQUEST=1, since those readings fall
       * between the requests and so add to the set-up's total and its client share.
       */
      mainThreadRunningMsByRequest?: Record<string, RequestThreadsMs>;
      /** The same for the media node process (`split` only: its JS side, not its workers). */
      mediaNodeCpuMsPerCall?: number;
      mediaNodeCpuMsPerSetup?: number;
      mediaNodeMainThreadMsPerSetup?: MainThreadTime;
      /** Set-ups run first and left out of every figure, so code is compiled and pools are warm. */
      warmupCalls: number;
      method: string;
      /** Before the set-ups and during them (see startAfterCheckpoint); absent in results written before. */
      checkpoints?: SuiteCheckpoints;
      /**
       * The whole machine over the measured calls, and the CPU per call (set-up and end) of the
       * load generator, the media workers, PostgreSQL and Redis. Absent in results written before.
       */
      machine?: MachineCpuUse;
    }
  | { calls: number; unavailable: string };

const METHODS: Record<CallSetupMode, string> = {
  join:
    'Per call, a fresh pair of friends: invite → callee hears call:incoming → call:accept with its join (plain recv ' +
    'transport sending to its socket, plain capabilities) → caller hears call:state active → media:join (plain send ' +
    'transport from its declared socket, Opus producer), then RTP every 20 ms → the server consumes it for the callee ' +
    '(media:consumer-added) → first RTP packet at the callee socket. "server" is the sum of the three round trips, ' +
    '"client" the rest (event waits, pacing of the 20 ms packet clock).',
  steps:
    'Per call, a fresh pair of friends: invite → callee hears call:incoming → accept → caller: capabilities, plain send ' +
    'transport, produce, then RTP every 20 ms → callee: capabilities, plain recv transport, connect, waits for ' +
    'media:producer-added, consume, resume → first RTP packet at the callee socket. Requests run one after another; ' +
    '"server" is the sum of their round trips, "client" the rest (event waits, pacing of the 20 ms packet clock).',
};

/** What each main thread ran during one kind of request, mean ms per call. */
export interface RequestThreadsMs {
  gateway: number;
  mediaNode?: number;
  loadGenerator: number;
}

/**
 * Where the call's room is: `all` is one process (gateway and media node);
 * `split` is a gateway (NODE_ROLE=gateway) whose rooms are on a media node
 * in another process (NODE_ROLE=media), reached through Redis.
 */
export type SetupTopology = 'all' | 'split';

/**
 * `join`: three round trips (invite; the callee's call:accept with its join; the caller's media:join),
 * as the SDK and the simulator set calls up. `steps`: one request per capability, transport, producer
 * and consumer (ten round trips), as before media:join existed.
 */
export type CallSetupMode = 'join' | 'steps';

/** The warm-up's calls go round this many pairs (every measured call has a fresh pair). */
const WARMUP_PAIRS = 20;

async function startTopology(topology: SetupTopology): Promise<{ url: string; pid: number; nodePid?: number; close(): Promise<void> }> {
  // Both on Redis (socket.io fan-out, presence), as any service of more than one process is:
  // the difference between the two is then the routing of room requests alone.
  const redis = { REDIS_URL: benchRedisUrl() };
  if (topology === 'all') return startBenchGateway(redis);
  const node = await startBenchGateway({ ...redis, NODE_ROLE: 'media' });
  try {
    const gw = await startBenchGateway({ ...redis, NODE_ROLE: 'gateway' }, { db: node.db });
    return { url: gw.url, pid: gw.pid, nodePid: node.pid, close: async () => (await gw.close(), await node.close()) };
  } catch (err) {
    await node.close();
    throw err;
  }
}

/** Time from call:invite to the first audio packet at the callee, over gateway child processes. */
export async function runCallSetupBench(
  o: {
    calls: number;
    topology?: SetupTopology;
    setup?: CallSetupMode;
    /** Set-ups before the measured ones (how many: bench-args.ts's setupWarmupCalls). */
    warmupCalls: number;
  },
  log: (s: string) => void,
): Promise<CallSetupResult> {
  const setup = o.setup ?? 'join';
  const { warmupCalls } = o;
  const gw = await startTopology(o.topology ?? 'all');
  const sender = dgram.createSocket('udp4');
  const receiver = dgram.createSocket('udp4');
  try {
    await Promise.all([sender, receiver].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    const receiverPort = receiver.address().port;
    const senderPort = sender.address().port;
    const warmupPairCount = Math.min(warmupCalls, WARMUP_PAIRS);
    const users = await loginUsers(gw.url, 2 * (warmupPairCount + o.calls), 'setup', 16);
    await inBatches(users, 32, (u) => u.connect());
    const allPairs = Array.from({ length: warmupPairCount + o.calls }, (_, i) => [users[2 * i], users[2 * i + 1]] as const);
    await inBatches(allPairs, 8, ([a, b]) => befriend(a, b));
    log(`call set-up (${o.topology ?? 'all'}, ${setup}): ${o.calls} calls after ${warmupCalls} to warm up`);
    // A timed checkpoint in one topology's set-ups and not the other's would show as routing cost.
    const checkpoints = await startAfterCheckpoint();
    const warmupPairs = allPairs.slice(0, warmupPairCount);
    const warmup = Array.from({ length: warmupCalls }, (_, i) => warmupPairs[i % warmupPairCount]);
    const pairs = allPairs.slice(warmupPairCount);

    const total = new LatencySamples();
    const server = new LatencySamples();
    const client = new LatencySamples();
    const byRequest = new Map<string, LatencySamples>();
    let failed = 0;
    const pids = gw.nodePid === undefined ? [gw.pid] : [gw.pid, gw.nodePid];
    const phaseCpu = { setup: new Map<number, number>(), hangup: new Map<number, number>() };
    // The load generator's main thread too: its clients' work is part of every round trip.
    const threadOwners = [...pids, process.pid];
    const mainThreadSetup = new Map<number, MainThreadTime>(threadOwners.map((pid) => [pid, { running: 0, waitingForCore: 0 }]));
    const mainThreadsNow = () => new Map(threadOwners.map((pid) => [pid, mainThreadSchedule(pid)]));
    const threadsByRequest = process.env.BENCH_SETUP_THREADS_BY_REQUEST === '1' ? new Map<string, number[]>() : undefined;
    const cpuNow = () => new Map(pids.map((pid) => [pid, preciseCpuSeconds(pid)]));
    const addCpu = (into: Map<number, number>, from: Map<number, number>, to: Map<number, number>) => {
      for (const pid of pids) into.set(pid, (into.get(pid) ?? 0) + to.get(pid)! - from.get(pid)!);
    };
    let cpuBefore = sampleCpu(pids);
    let machineBefore = sampleMachineCpu();
    let handlingBefore: EventDurations | undefined;
    for (const [index, [caller, callee]] of [...warmup, ...pairs].entries()) {
      const marker = index + 1;
      const measured = index >= warmupCalls;
      if (index === warmupCalls) {
        cpuBefore = sampleCpu(pids);
        machineBefore = sampleMachineCpu();
        handlingBefore = await eventDurations(gw.url);
      }
      let sending: NodeJS.Timeout | undefined;
      try {
        const cpuAtInvite = cpuNow();
        const mainThreadsAtInvite = mainThreadsNow();
        const timing: TimedRequests & { steps: Record<string, number> } = {
          serverMs: 0,
          steps: {},
          threads: threadsByRequest && { read: () => threadOwners.map((pid) => mainThreadSchedule(pid).running), byStep: {} },
        };
        const firstPacket = new Promise<number>((resolve) => {
          const onMessage = (msg: Buffer) => {
            if (rtpMarkerOf(msg) !== marker) return;
            receiver.off('message', onMessage);
            resolve(performance.now());
          };
          receiver.on('message', onMessage);
        });
        const incoming = callee.waitFor('call:incoming', (p) => p.call.callerId === caller.id, 10_000);
        const t0 = performance.now();
        const { call } = await timed(timing, () => caller.request('call:invite', { to: callee.id }), 'call:invite');
        await incoming;
        const ssrc = newSsrc();
        if (setup === 'join') {
          // Three round trips: invite, the callee's accept carrying its join (a recv transport sending to
          // its socket, its capabilities so the caller's producer is consumed for it as it appears), and
          // the caller's join with its send transport (declared source) and Opus producer.
          const active = caller.waitFor('call:state', (p) => p.call.id === call.id && p.call.state === 'active', 10_000);
          await timed(
            timing,
            () =>
              callee.request('call:accept', {
                callId: call.id,
                join: { rtpCapabilities: PLAIN_RTP_CAPABILITIES, recv: { type: 'plain', ip: '127.0.0.1', port: receiverPort } },
              }),
            'call:accept',
          );
          await active;
          const joined = await timed(
            timing,
            () =>
              caller.request('media:join', {
                callId: call.id,
                send: {
                  type: 'plain',
                  ip: '127.0.0.1',
                  port: senderPort,
                  produce: [{ kind: 'audio', rtpParameters: opusRtpParameters(ssrc) }],
                },
              }),
            'media:join',
          );
          const sendPort = (joined.send as { port: number }).port;
          let seq = 0;
          const sendOne = () => sender.send(markedRtpPacket(ssrc, seq++, marker), sendPort, '127.0.0.1');
          sendOne();
          sending = setInterval(sendOne, 20);
        } else {
          const producerAdded = callee.waitFor('media:producer-added', () => true, 10_000);
          await timed(timing, () => callee.request('call:accept', { callId: call.id }), 'call:accept');
          const send = await openSendSide(caller, call.id, ssrc, timing);
          let seq = 0;
          const sendOne = () => sender.send(markedRtpPacket(ssrc, seq++, marker), send.sendPort, '127.0.0.1');
          sendOne();
          sending = setInterval(sendOne, 20);
          const { rtpCapabilities } = await timed(
            timing,
            () => callee.request('media:capabilities', { callId: call.id }),
            'media:capabilities',
          );
          const recvTransportId = await openRecvTransport(callee, call.id, receiverPort, timing);
          const { producerId } = await producerAdded;
          await consumeAndResume(callee, recvTransportId, producerId, rtpCapabilities as Record<string, unknown>, timing);
        }
        const t1 = await Promise.race([firstPacket, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no packet')), 5000))]);
        // Main threads first: reading every thread's CPU is the load generator's own work, kept out
        // of its figure (at the invite it comes before their reading for the same reason).
        const mainThreadsAtAudio = mainThreadsNow();
        const cpuAtAudio = cpuNow();
        // The end is done when both heard the call's entry in their conversation (its last step).
        const entries = [caller, callee].map((u) => u.waitFor('dm:new', () => true, 10_000));
        await caller.request('call:hangup', { callId: call.id });
        await Promise.all(entries);
        if (!measured) continue;
        addCpu(phaseCpu.setup, cpuAtInvite, cpuAtAudio);
        addCpu(phaseCpu.hangup, cpuAtAudio, cpuNow());
        for (const [pid, sum] of mainThreadSetup) {
          const [from, to] = [mainThreadsAtInvite.get(pid)!, mainThreadsAtAudio.get(pid)!];
          sum.running += to.running - from.running;
          sum.waitingForCore += to.waitingForCore - from.waitingForCore;
        }
        total.add(t1 - t0);
        server.add(timing.serverMs);
        client.add(t1 - t0 - timing.serverMs);
        for (const [step, ms] of Object.entries(timing.steps)) {
          if (!byRequest.has(step)) byRequest.set(step, new LatencySamples());
          byRequest.get(step)!.add(ms);
        }
        for (const [step, seconds] of Object.entries(timing.threads?.byStep ?? {})) {
          const sums = threadsByRequest?.get(step) ?? seconds.map(() => 0);
          threadsByRequest?.set(
            step,
            sums.map((sum, i) => sum + seconds[i]),
          );
        }
      } catch (err) {
        failed++;
        log(`  call ${index} failed: ${(err as Error).message}`);
      } finally {
        if (sending) clearInterval(sending);
      }
    }
    const cpuAfter = sampleCpu(pids);
    const machineAfter = sampleMachineCpu();
    const handlingAfter = await eventDurations(gw.url);
    const checkpointsDuring = await checkpoints.end();
    logUnplannedCheckpoints(checkpointsDuring, CHECKPOINTED_BEFORE.callSetup, log);
    const succeeded = total.summary().count;
    const perCallMs = (pid: number) => Math.round(cpuPerOp(cpuBefore, cpuAfter, succeeded, pid) / 10) / 100;
    // Seconds summed over the measured calls, as the mean per call in ms.
    const meanMsPerCall = (seconds: number) => Math.round((seconds / succeeded) * 1e5) / 100;
    const perPhaseMs = (phase: Map<number, number>, pid: number) => meanMsPerCall(phase.get(pid) ?? NaN);
    const mainThreadMs = (pid: number): MainThreadTime => {
      const sum = mainThreadSetup.get(pid)!;
      return { running: meanMsPerCall(sum.running), waitingForCore: meanMsPerCall(sum.waitingForCore) };
    };
    for (const u of users) u.disconnect();
    const result = {
      calls: o.calls,
      failed,
      total: total.summary(),
      server: server.summary(),
      client: client.summary(),
      byRequest: Object.fromEntries(
        [...byRequest].map(([step, samples]) => {
          const s = samples.summary();
          return [step, { p50: s.p50, p99: s.p99 }];
        }),
      ),
      handlingMs: handlingBefore && handlingAfter && meanDurationsMs(handlingBefore, handlingAfter),
      gatewayCpuMsPerCall: perCallMs(gw.pid),
      gatewayCpuMsPerSetup: perPhaseMs(phaseCpu.setup, gw.pid),
      gatewayCpuMsPerHangup: perPhaseMs(phaseCpu.hangup, gw.pid),
      gatewayMainThreadMsPerSetup: mainThreadMs(gw.pid),
      loadGeneratorMainThreadMsPerSetup: mainThreadMs(process.pid),
      ...(threadsByRequest && {
        mainThreadRunningMsByRequest: Object.fromEntries(
          [...threadsByRequest].map(([step, seconds]): [string, RequestThreadsMs] => {
            const of = (pid: number) => meanMsPerCall(seconds[threadOwners.indexOf(pid)]);
            return [
              step,
              { gateway: of(gw.pid), ...(gw.nodePid !== undefined && { mediaNode: of(gw.nodePid) }), loadGenerator: of(process.pid) },
            ];
          }),
        ),
      }),
      ...(gw.nodePid === undefined
        ? {}
        : {
            mediaNodeCpuMsPerCall: perCallMs(gw.nodePid),
            mediaNodeCpuMsPerSetup: perPhaseMs(phaseCpu.setup, gw.nodePid),
            mediaNodeMainThreadMsPerSetup: mainThreadMs(gw.nodePid),
          }),
      warmupCalls,
      method: METHODS[setup],
      checkpoints: checkpointsDuring,
      machine: machineCpuOver(machineBefore, machineAfter, succeeded),
    };
    log(
      `  total p50/p99 ${result.total.p50}/${result.total.p99} ms (server ${result.server.p50}/${result.server.p99}), ` +
        `gateway CPU ${result.gatewayCpuMsPerSetup} ms per set-up + ${result.gatewayCpuMsPerHangup} per end (${result.gatewayCpuMsPerCall} over the loop)` +
        `, its main thread ${result.gatewayMainThreadMsPerSetup.running} ms running and ${result.gatewayMainThreadMsPerSetup.waitingForCore} waiting for a core per set-up` +
        `, the load generator's ${result.loadGeneratorMainThreadMsPerSetup.running} ms running` +
        (result.mediaNodeCpuMsPerCall === undefined ? '' : `, media node ${result.mediaNodeCpuMsPerCall}`),
    );
    return result;
  } finally {
    sender.close();
    receiver.close();
    await gw.close();
  }
}

/** socket_event_duration_seconds's sum and count per event, from a gateway's /metrics (undefined if unreadable). */
type EventDurations = Map<string, { sum: number; count: number }>;

async function eventDurations(url: string): Promise<EventDurations | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const durations: EventDurations = new Map();
    for (const m of text.matchAll(/^(?:[a-z]+_)?socket_event_duration_seconds_(sum|count)\{event="([^"]+)"\} ([\d.e+-]+)$/gm)) {
      const d = durations.get(m[2]) ?? { sum: 0, count: 0 };
      d[m[1] as 'sum' | 'count'] = Number(m[3]);
      durations.set(m[2], d);
    }
    return durations;
  } catch {
    return undefined;
  }
}

function meanDurationsMs(before: EventDurations, after: EventDurations): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [event, { sum, count }] of after) {
    const earlier = before.get(event) ?? { sum: 0, count: 0 };
    if (count > earlier.count) means[event] = Math.round(((sum - earlier.sum) / (count - earlier.count)) * 1e5) / 100;
  }
  return means;
}
