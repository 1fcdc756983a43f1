import crypto from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { sleep } from '@app/client';
import { LatencySamples, LatencySummary, nowMs, round } from './latency-samples';
import { machineCpuOver, MachineCpuUse, sampleMachineCpu } from './machine-usage';
import { cpuPerOp, CpuSample, processActivity, ProcessActivity, sampleCpu } from './process-usage';

export interface MessageLane {
  sender: Socket;
  recipient: Socket;
  recipientId: string;
}

export interface MessageLoadOptions {
  lanes: MessageLane[];
  /** Event the sender emits with `{ to, clientMsgId, body }` and an ack. */
  sendEvent: string;
  /** Event the recipient gets; `clientMsgIdOf` finds the id in its payload. */
  deliveryEvent: string;
  clientMsgIdOf(payload: any): string | undefined;
  /** Requests in flight per sender. */
  window: number;
  /**
   * At most this many sends per second in all, shared evenly by the lanes (each lane's sends
   * spaced by lanes / rate seconds; `window` still caps what is in flight). The lanes start
   * together, so the sends tend to come in groups of up to one per lane (see sendSlots). Unset:
   * each send goes as soon as an earlier one is answered, so the load is as much as the server takes.
   */
  ratePerSec?: number;
  warmupMs: number;
  durationMs: number;
  bodyChars?: number;
  /** Server processes whose CPU is read at the start and end of the measured interval. */
  cpuPids?: number[];
}

/** The server's CPU over the measured interval. */
export interface MessageLoadCpu {
  /** Average cores per pid. */
  cores: Record<number, number>;
  /** Microseconds of CPU per acknowledged message, all `cpuPids` together. */
  usPerMessage: number;
  /** Per acknowledged message, all `cpuPids` together (see processActivity); absent where /proc does not tell. */
  contextSwitchesPerMessage?: number;
  preemptionsPerMessage?: number;
  ioCallsPerMessage?: number;
  /** Of usPerMessage, the microseconds in the kernel (stime, read in 10 ms ticks). */
  systemUsPerMessage?: number;
}

export interface MessageLoadResult {
  senders: number;
  window: number;
  seconds: number;
  /** Messages delivered per second during the measured interval. */
  deliveredPerSec: number;
  ackedPerSec: number;
  ackErrors: Record<string, number>;
  /** Acked (measured interval) but never delivered within the drain time. */
  undelivered: number;
  ackLatencyMs: LatencySummary;
  deliveryLatencyMs: LatencySummary;
  cpu?: MessageLoadCpu;
  /** The whole machine over the measured interval, per acknowledged message (see MachineCpuUse). */
  machine?: MachineCpuUse;
}

/**
 * Every sender keeps `window` messages in flight to its recipient for the
 * whole run. Latency is send → delivery event at the recipient, measured on
 * one clock (all sockets live in this process).
 */
export async function runMessageLoad(o: MessageLoadOptions): Promise<MessageLoadResult> {
  const body = 'x'.repeat(o.bodyChars ?? 64);
  const sentAt = new Map<string, number>();
  const measuredIds = new Set<string>();
  const ackLatency = new LatencySamples();
  const deliveryLatency = new LatencySamples();
  const ackErrors: Record<string, number> = {};
  let delivered = 0;
  let acked = 0;
  // Every ack that arrives while measuring, whenever its send left: the work the server finished in the interval.
  let ackedInInterval = 0;
  let measuring = false;
  let sending = true;
  let inFlight = 0;

  const onDelivery = (payload: unknown) => {
    const id = o.clientMsgIdOf(payload);
    if (!id) return;
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    sentAt.delete(id);
    if (measuredIds.delete(id)) {
      deliveryLatency.add(nowMs() - t0);
      if (measuring) delivered++;
    }
  };
  const delayOf = o.ratePerSec ? sendSlots(o.ratePerSec, o.lanes.length) : undefined;
  const sendNext = (lane: MessageLane) => {
    if (!delayOf) return sendOne(lane);
    setTimeout(() => sendOne(lane), delayOf(lane, nowMs()));
  };
  const recipients = new Set(o.lanes.map((l) => l.recipient));
  for (const r of recipients) r.on(o.deliveryEvent, onDelivery);

  const sendOne = (lane: MessageLane) => {
    if (!sending) return;
    const clientMsgId = crypto.randomUUID();
    const t0 = nowMs();
    sentAt.set(clientMsgId, t0);
    const counted = measuring;
    if (counted) measuredIds.add(clientMsgId);
    inFlight++;
    lane.sender.emit(o.sendEvent, { to: lane.recipientId, clientMsgId, body }, (ack: any) => {
      inFlight--;
      if (ack?.ok) {
        if (measuring) ackedInInterval++;
        if (counted) {
          ackLatency.add(nowMs() - t0);
          if (measuring) acked++;
        }
      } else {
        const code = ack?.error?.code ?? 'NO_ACK';
        ackErrors[code] = (ackErrors[code] ?? 0) + 1;
        sentAt.delete(clientMsgId);
        measuredIds.delete(clientMsgId);
        // Back off briefly on refusal (a rate limit) instead of spinning.
        if (code === 'RATE_LIMITED') {
          setTimeout(() => sendOne(lane), Number(ack?.error?.details?.retryAfterMs ?? 10));
          return;
        }
      }
      sendNext(lane);
    });
  };

  for (const lane of o.lanes) for (let i = 0; i < o.window; i++) sendNext(lane);
  await sleep(o.warmupMs);
  const cpuBefore: CpuSample | undefined = o.cpuPids && sampleCpu(o.cpuPids);
  const activityBefore = o.cpuPids && totalActivity(o.cpuPids);
  const machineBefore = sampleMachineCpu();
  measuring = true;
  const start = nowMs();
  await sleep(o.durationMs);
  measuring = false;
  const seconds = (nowMs() - start) / 1000;
  const cpuAfter: CpuSample | undefined = o.cpuPids && sampleCpu(o.cpuPids);
  const activityAfter = o.cpuPids && totalActivity(o.cpuPids);
  const machineAfter = sampleMachineCpu();
  sending = false;
  const drainUntil = Date.now() + 10_000;
  while ((inFlight > 0 || measuredIds.size > 0) && Date.now() < drainUntil) await sleep(50);
  for (const r of recipients) r.off(o.deliveryEvent, onDelivery);
  return {
    senders: o.lanes.length,
    window: o.window,
    seconds: round(seconds),
    deliveredPerSec: Math.round(delivered / seconds),
    ackedPerSec: Math.round(acked / seconds),
    ackErrors,
    undelivered: measuredIds.size,
    ackLatencyMs: ackLatency.summary(),
    deliveryLatencyMs: deliveryLatency.summary(),
    cpu:
      cpuBefore && cpuAfter
        ? { ...cpuOver(cpuBefore, cpuAfter, ackedInInterval), ...activityPerMessage(activityBefore, activityAfter, ackedInInterval) }
        : undefined,
    machine: machineCpuOver(machineBefore, machineAfter, ackedInInterval),
  };
}

/**
 * Shares `ratePerSec` sends evenly among `lanes` lanes: each lane's sends are
 * spaced by lanes / rate seconds. Returns, for a send a lane wants to make at
 * `nowMs`, how long it waits for its slot. A lane that fell behind sends at
 * once and is spaced from then on, without catching up in a burst. Each
 * lane's first slot is when it first asks, so lanes that start together keep
 * sending together: the server sees groups of up to one send per lane, and
 * how whole those groups stay moves its CPU per DM (bench/RESULTS.md, the
 * twenty-fifth machine).
 */
export function sendSlots<L>(ratePerSec: number, lanes: number): (lane: L, nowMs: number) => number {
  const spacingMs = (lanes * 1000) / ratePerSec;
  const nextSlot = new Map<L, number>();
  return (lane, now) => {
    const last = nextSlot.get(lane);
    const at = last === undefined ? now : Math.max(now, last + spacingMs);
    nextSlot.set(lane, at);
    return at - now;
  };
}

/** The processes' activity summed; undefined when any of them does not tell. */
function totalActivity(pids: number[]): ProcessActivity | undefined {
  const total: ProcessActivity = { contextSwitches: 0, preemptions: 0, ioCalls: 0, systemSeconds: 0 };
  for (const pid of pids) {
    const a = processActivity(pid);
    if (!a) return undefined;
    total.contextSwitches += a.contextSwitches;
    total.preemptions += a.preemptions;
    total.ioCalls += a.ioCalls;
    total.systemSeconds += a.systemSeconds;
  }
  return total;
}

function activityPerMessage(before: ProcessActivity | undefined, after: ProcessActivity | undefined, messages: number) {
  if (!before || !after || !(messages > 0)) return {};
  return {
    contextSwitchesPerMessage: round((after.contextSwitches - before.contextSwitches) / messages, 3),
    preemptionsPerMessage: round((after.preemptions - before.preemptions) / messages, 3),
    ioCallsPerMessage: round((after.ioCalls - before.ioCalls) / messages, 3),
    systemUsPerMessage: round(((after.systemSeconds - before.systemSeconds) * 1e6) / messages, 1),
  };
}

function cpuOver(before: CpuSample, after: CpuSample, messages: number): MessageLoadCpu {
  const seconds = (after.wallMs - before.wallMs) / 1000;
  const cores: Record<number, number> = {};
  for (const pid of Object.keys(before.cpuSeconds).map(Number)) {
    cores[pid] = round((after.cpuSeconds[pid] - before.cpuSeconds[pid]) / seconds, 3);
  }
  return { cores, usPerMessage: cpuPerOp(before, after, messages) };
}
