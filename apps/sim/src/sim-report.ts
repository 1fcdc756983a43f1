/** The simulator's findings, printed at the end and written as JSON. */
import type { ProcessUsage } from './process-usage';

export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface MessageFindings {
  sent: number;
  /** Sends that never got a successful ack (after the SDK's retries). */
  failed: number;
  /** Acked messages that reached their recipient. */
  delivered: number;
  /** Of those, how many only arrived through dm:sync rather than a live push. */
  deliveredViaSync: number;
  /** Extra copies: the same message id pushed twice to one socket, or two ids for one clientMsgId. */
  duplicated: number;
  /** Acked but never seen by the recipient, even after a final dm:sync. */
  lost: number;
  /** From the start of dm:send to the recipient's dm:new, in ms. */
  latencyMs: LatencySummary;
}

export interface CallFindings {
  placed: number;
  /** Reached `active`. */
  connected: number;
  /** Could not be placed or did not connect; the first errors are in `errors`. */
  failed: number;
  /** Most calls carrying audio at the same moment. */
  peakConcurrentCalls: number;
  endedByReason: Record<string, number>;
  /** media:restart events heard in all calls (the server moved a call's media; each call counted once per restart). */
  restarts: number;
  /** Calls that had at least one restart (each had to carry its tones again afterwards to pass). */
  callsRestarted: number;
  /** Tone rounds a restart cut short and that were played again in full after it. */
  toneRoundsReplayed: number;
  /** From call:invite to `active` seen by the caller, in ms. */
  setupMs: LatencySummary;
  /** From `active` to both sides' streams open (transports, producers, consumers), in ms. */
  mediaSetupMs: LatencySummary;
  audio: {
    packetsSent: number;
    packetsReceived: number;
    toneChecks: number;
    tonePassed: number;
    /** tonePassed / toneChecks (1 when there were none). */
    tonePassRate: number;
  };
}

export interface VideoExperimentFindings {
  /** Share of users the video_call flag was switched on for. */
  share: number;
  usersWithVideo: number;
  attempted: number;
  /** Refused with VIDEO_CALL_DISABLED. */
  refused: number;
  /** Connected and hung up. */
  completed: number;
  /** Refusals where both users had the flag, or completions where one did not. */
  unexpected: number;
  failed: number;
}

/** A set-up time split into the gateway's handling time and the rest, on means (the server's side is only known as a mean). */
export interface SetupSplit {
  /** Mean of the whole step as the simulator saw it. */
  meanMs: number | null;
  /** The gateway's mean handling time of the step's socket events, added up. */
  serverMs: number | null;
  /** The mean less the server's share: the simulator's event loop, the network, waiting in queues. */
  elsewhereMs: number | null;
}

export interface SimTiming {
  callSetup: SetupSplit;
  mediaSetup: SetupSplit;
  /** Mean handling time per socket event during the calls, from the gateways' /metrics (all gateways' events together). */
  serverEventMs: Record<string, number>;
}

export interface SimReport {
  /** The first of `gatewayUrls`. */
  gatewayUrl: string;
  /** Every gateway driven, in order; user i was on gatewayUrls[i % n]. */
  gatewayUrls: string[];
  /** Users on each gateway, in the order of `gatewayUrls`. */
  usersPerGateway: number[];
  startedAt: string;
  durationMs: number;
  options: Record<string, unknown>;
  users: number;
  friendships: number;
  messages: MessageFindings;
  calls: CallFindings;
  videoExperiment?: VideoExperimentFindings;
  /** Where set-up time went (absent when a gateway's /metrics could not be read). */
  timing?: SimTiming;
  /** The simulator's own process; with an embedded gateway that includes the gateway (not its media workers). */
  simulator?: ProcessUsage & { embeddedGateway: boolean };
  /** The first few errors seen, for diagnosis. */
  errors: string[];
  /** Every message delivered once, every call connected, every tone check passed, no unexpected flag outcome. */
  passed: boolean;
}

/** Nearest-rank percentile of the values (null when there are none). */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(values: number[]): LatencySummary {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    count: values.length,
    mean: round(values.length ? values.reduce((a, b) => a + b, 0) / values.length : null),
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : null),
  };
}

export function judge(report: Omit<SimReport, 'passed'>): boolean {
  const m = report.messages;
  const c = report.calls;
  const v = report.videoExperiment;
  return (
    m.failed === 0 &&
    m.lost === 0 &&
    m.duplicated === 0 &&
    m.delivered === m.sent &&
    c.failed === 0 &&
    c.connected === c.placed &&
    c.audio.tonePassed === c.audio.toneChecks &&
    (v === undefined || (v.unexpected === 0 && v.failed === 0))
  );
}

/** A human-readable summary for the terminal. */
export function formatReport(r: SimReport): string {
  const ms = (s: LatencySummary) => `p50 ${s.p50 ?? '-'} / p95 ${s.p95 ?? '-'} / p99 ${s.p99 ?? '-'} ms (n=${s.count})`;
  const gateways =
    r.gatewayUrls.length > 1
      ? `${r.gatewayUrls.length} gateways (${r.gatewayUrls.map((url, g) => `${url}: ${r.usersPerGateway[g]} users`).join(', ')})`
      : r.gatewayUrl;
  const lines = [
    `Simulation against ${gateways}: ${r.users} users, ${r.friendships} friendships, ${(r.durationMs / 1000).toFixed(1)} s`,
    `Messages: sent ${r.messages.sent}, delivered ${r.messages.delivered} (${r.messages.deliveredViaSync} via sync), ` +
      `duplicated ${r.messages.duplicated}, lost ${r.messages.lost}, failed ${r.messages.failed}`,
    `  delivery latency ${ms(r.messages.latencyMs)}`,
    `Calls: placed ${r.calls.placed}, connected ${r.calls.connected}, failed ${r.calls.failed}, ` +
      `at most ${r.calls.peakConcurrentCalls} talking at once, ended ` +
      (Object.entries(r.calls.endedByReason)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none'),
    `  media restarts ${r.calls.restarts} in ${r.calls.callsRestarted} calls; ${r.calls.toneRoundsReplayed} tone rounds cut by one and played again`,
    `  set-up time ${ms(r.calls.setupMs)}`,
    `  media set-up ${ms(r.calls.mediaSetupMs)}`,
    `  audio packets sent ${r.calls.audio.packetsSent}, received ${r.calls.audio.packetsReceived}; ` +
      `tone checks ${r.calls.audio.tonePassed}/${r.calls.audio.toneChecks} passed (${(r.calls.audio.tonePassRate * 100).toFixed(1)}%)`,
  ];
  const v = r.videoExperiment;
  if (v) {
    lines.push(
      `Video flag experiment: on for ${v.usersWithVideo} users (${Math.round(v.share * 100)}%); ` +
        `${v.attempted} video calls: ${v.completed} completed, ${v.refused} refused (VIDEO_CALL_DISABLED), ` +
        `${v.unexpected} unexpected, ${v.failed} failed`,
    );
  }
  const t = r.timing;
  if (t) {
    const split = (s: SetupSplit) => `mean ${s.meanMs ?? '-'} ms = server ${s.serverMs ?? '-'} + elsewhere ${s.elsewhereMs ?? '-'}`;
    lines.push(`Set-up split: call ${split(t.callSetup)}; media ${split(t.mediaSetup)}`);
  }
  const u = r.simulator;
  if (u) {
    lines.push(
      `Simulator process${u.embeddedGateway ? ' (with the embedded gateway)' : ''}: CPU ${u.cpuCores} cores ` +
        `(${u.cpuSeconds.user} s user, ${u.cpuSeconds.system} s system), RSS ${u.rssMb.start} → peak ${u.rssMb.peak} MB, ` +
        `heap peak ${u.heapUsedMb.peak} MB, event-loop delay p99 ${u.eventLoopDelayMs.p99} ms (max ${u.eventLoopDelayMs.max})`,
    );
  }
  if (r.errors.length) lines.push(`Errors (first ${r.errors.length}):`, ...r.errors.map((e) => `  - ${e}`));
  lines.push(r.passed ? 'RESULT: PASS' : 'RESULT: FAIL');
  return lines.join('\n');
}
