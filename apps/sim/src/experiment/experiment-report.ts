import type { CallQualityDto, FlagReportDto, MediaStatsDto } from '@app/contracts';
import { LatencySummary, percentile, summarize } from '../sim-report';
import type { Cohort } from './call-plan';
import { COHORTS } from './call-plan';
import type { NetworkConditions } from '@app/client';
import { cpuPerCallSecond, CpuSample } from './sfu-cpu';

/** One receiving leg of a call as the client saw it. */
export interface LegRecord {
  /** Who received: the caller or the callee. */
  receiver: 'caller' | 'callee';
  kind: 'audio' | 'video';
  packets: number;
  bytes: number;
  /** From sequence numbers: lost on either hop. */
  lossRatio: number;
  jitterMs?: number;
  /** Audio: loss left after rebuilding from Opus in-band FEC, the tone's SNR, E-model MOS. */
  lossAfterFec?: number;
  snrDb?: number;
  mos?: number;
  /** Audio: the other side's tone heard, and the check behind it (packets expected, arrived byte for byte; frames decoded, sounding like the tone). */
  toneHeard?: boolean;
  tone?: { expected: number; exact: number; decoded: number; decodedMatching: number };
  /** Video, judged against the clip. */
  framesSent?: number;
  framesIntact?: number;
  framesDecodable?: number;
  freezeMs?: number;
  fps?: number;
  keyFramesRequested?: number;
}

export interface CallRecord {
  index: number;
  callId?: string;
  cohort: Cohort;
  /** What the plan asked for, and what the call was placed as in the end. */
  planned: 'video' | 'audio';
  placedAs?: 'video' | 'audio';
  outcome: 'completed' | 'refused' | 'failed';
  /** A video invite refused with VIDEO_CALL_DISABLED and placed again as voice. */
  downgraded: boolean;
  /** Planned after the kill switch fired. */
  afterKillSwitch: boolean;
  /** ms since the experiment started: when the call was planned, and when its (last) call:invite went out. */
  startedAtMs: number;
  invitedAtMs?: number;
  /** call:invite to the caller's first audio packet, ms. */
  setupMs?: number;
  /** Seconds both sides carried media. */
  talkSeconds: number;
  /** Bytes both participants put on the wire, and what reached them. */
  clientSentBytes: number;
  clientReceivedBytes: number;
  legs: LegRecord[];
  /** From GET /calls once the call ended (mediaStats): what the SFU received (up) and sent (down), all legs. */
  serverUpBytes?: number;
  serverDownBytes?: number;
  serverSampledSeconds?: number;
  error?: string;
}

export interface KillSwitchRecord {
  /** ms since the experiment started, and the wall time. */
  atMs: number;
  at: string;
  /** Video calls carrying video when the flag went off, and their video producers. */
  liveVideoCalls: number;
  videoProducers: number;
  /** Producers a participant heard closed with reason flag_off within a second; later; never. */
  closedWithinSecond: number;
  closedLate: number;
  notClosed: number;
  closeLatencyMs: LatencySummary;
  /** Each watched producer: whose, and when (ms after the switch) its sender heard it closed, and why. */
  producers: { call: number; sender: 'caller' | 'callee'; closedAfterMs: number | null; reason: string | null }[];
  /** Of the live video calls that went on talking, those whose audio kept arriving both ways after the switch. */
  audioContinued: number;
  audioChecked: number;
  /** Calls of video-flag pairs planned after the switch: refused (VIDEO_CALL_DISABLED), and of those placed again as voice. */
  laterVideoPairCalls: number;
  laterRefused: number;
  laterAsVoice: number;
  laterAsVideo: number;
}

export interface Distribution {
  summary: LatencySummary;
  values: number[];
}

export interface CohortReport {
  cohort: Cohort;
  users: number;
  calls: { attempted: number; completed: number; refused: number; failed: number; video: number; voice: number; downgraded: number };
  setupMs: Distribution;
  audioLoss: Distribution;
  videoLoss: Distribution;
  mos: Distribution;
  tone: { checks: number; heard: number };
  /** Video legs against the clip: frames sent, arrived whole, a decoder could show; time frozen. */
  video: {
    legs: number;
    framesSent: number;
    framesIntact: number;
    framesDecodable: number;
    intactRatio: number | null;
    decodableRatio: number | null;
    freezeMs: Distribution;
    keyFramesRequested: number;
  };
  callSeconds: number;
  /** Both witnesses: bytes per call-minute over the cohort's completed calls (sent + received; up + down). */
  clientBytesPerCallMinute: number | null;
  serverBytesPerCallMinute: number | null;
  /** What the clients sent beside what the SFU received, per call-minute: the like-for-like pair. */
  clientSentPerCallMinute: number | null;
  serverUpPerCallMinute: number | null;
  /** SFU CPU per call-second (fitted per cohort), in CPU milliseconds. */
  sfuCpuMsPerCallSecond: number | null;
  /** Server call:quality pushes of this cohort's calls: received, and their mean loss. */
  qualityPushes: number;
  qualityLossMean: number | null;
}

export interface BitratePoint {
  /** Second since the experiment started. */
  t: number;
  /** kbit/s, per cohort: what clients sent and received, and what the server measured of producers (call:quality up legs). */
  clientSentKbps: Record<Cohort, number>;
  clientReceivedKbps: Record<Cohort, number>;
  serverUpKbps: Record<Cohort, number | null>;
}

export interface Finding {
  severity: 'fail' | 'note';
  text: string;
}

export interface ExperimentReport {
  experiment: 'video';
  startedAt: string;
  durationMs: number;
  gatewayUrls: string[];
  options: Record<string, unknown>;
  network: NetworkConditions & { profile: string };
  seed: number;
  users: number;
  friendships: number;
  cohorts: CohortReport[];
  bitrate: BitratePoint[];
  killSwitch?: KillSwitchRecord;
  /** SFU CPU per call-second over the run; per cohort it is shared out by packets (see cpuPerCallSecond). */
  sfuCpu: { source: string | null; msPerCallSecond: number | null; samples: number; method: string };
  /** The server's view: exposures per value and the flag report, raw. */
  server: {
    exposures?: { value: boolean; users: number }[];
    flagReport?: FlagReportDto;
    unavailable: string[];
  };
  calls: CallRecord[];
  findings: Finding[];
  passed: boolean;
}

/** What the run gathered, before it is summarised. */
export interface ExperimentObservations {
  cohorts: Cohort[];
  calls: CallRecord[];
  /** Client bytes per second since the start, per cohort. */
  clientBytes: { sent: Record<Cohort, number[]>; received: Record<Cohort, number[]> };
  qualityPushes: { atMs: number; cohort: Cohort; push: CallQualityDto }[];
  cpuSamples: CpuSample[];
  cpuSource?: string;
  killSwitch?: KillSwitchRecord;
  exposures?: { value: boolean; users: number }[];
  flagReport?: FlagReportDto;
  unavailable: string[];
  qualityIntervalMs?: number;
}

export const dist = (values: number[]): Distribution => ({ summary: summarize(values), values });
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** A finished call's SFU bytes by direction (undefined when the call has no mediaStats). */
export function serverBytesOf(stats: MediaStatsDto | null | undefined): { up: number; down: number } | undefined {
  if (!stats) return undefined;
  const sum = (d: 'up' | 'down') => stats.legs.filter((l) => l.direction === d).reduce((n, leg) => n + leg.bytes, 0);
  return { up: sum('up'), down: sum('down') };
}

export function summarizeCohort(cohort: Cohort, o: ExperimentObservations, cpuMs: number | null): CohortReport {
  const calls = o.calls.filter((c) => c.cohort === cohort);
  const completed = calls.filter((c) => c.outcome === 'completed');
  const legs = completed.flatMap((c) => c.legs);
  const audio = legs.filter((l) => l.kind === 'audio');
  const video = legs.filter((l) => l.kind === 'video');
  const callSeconds = completed.reduce((s, c) => s + c.talkSeconds, 0);
  const clientSent = completed.reduce((s, c) => s + c.clientSentBytes, 0);
  const clientBytes = clientSent + completed.reduce((s, c) => s + c.clientReceivedBytes, 0);
  const withServer = completed.filter((c) => c.serverUpBytes !== undefined && c.talkSeconds > 0);
  const serverMinutes = withServer.reduce((s, c) => s + c.talkSeconds, 0) / 60;
  const serverUp = withServer.reduce((s, c) => s + c.serverUpBytes!, 0);
  const serverBytes = serverUp + withServer.reduce((s, c) => s + (c.serverDownBytes ?? 0), 0);
  const perMinute = (bytes: number, minutes: number) => (minutes > 0 ? Math.round(bytes / minutes) : null);
  const pushes = o.qualityPushes.filter((p) => p.cohort === cohort);
  const pushLoss = pushes.flatMap((p) => p.push.legs.map((l) => l.lossRatio));
  const framesSent = video.reduce((s, l) => s + (l.framesSent ?? 0), 0);
  const framesIntact = video.reduce((s, l) => s + (l.framesIntact ?? 0), 0);
  const framesDecodable = video.reduce((s, l) => s + (l.framesDecodable ?? 0), 0);
  return {
    cohort,
    users: o.cohorts.filter((c) => c === cohort).length,
    calls: {
      attempted: calls.length,
      completed: completed.length,
      refused: calls.filter((c) => c.outcome === 'refused').length,
      failed: calls.filter((c) => c.outcome === 'failed').length,
      video: completed.filter((c) => c.placedAs === 'video').length,
      voice: completed.filter((c) => c.placedAs === 'audio').length,
      downgraded: calls.filter((c) => c.downgraded).length,
    },
    setupMs: dist(completed.flatMap((c) => (c.setupMs === undefined ? [] : [round(c.setupMs)]))),
    audioLoss: dist(audio.map((l) => round(l.lossRatio, 4))),
    videoLoss: dist(video.map((l) => round(l.lossRatio, 4))),
    mos: dist(audio.flatMap((l) => (l.mos === undefined ? [] : [l.mos]))),
    tone: { checks: audio.filter((l) => l.toneHeard !== undefined).length, heard: audio.filter((l) => l.toneHeard).length },
    video: {
      legs: video.length,
      framesSent,
      framesIntact,
      framesDecodable,
      intactRatio: framesSent > 0 ? round(Math.min(1, framesIntact / framesSent), 4) : null,
      decodableRatio: framesSent > 0 ? round(Math.min(1, framesDecodable / framesSent), 4) : null,
      freezeMs: dist(video.map((l) => Math.round(l.freezeMs ?? 0))),
      keyFramesRequested: video.reduce((s, l) => s + (l.keyFramesRequested ?? 0), 0),
    },
    callSeconds: round(callSeconds),
    clientBytesPerCallMinute: perMinute(clientBytes, callSeconds / 60),
    serverBytesPerCallMinute: perMinute(serverBytes, serverMinutes),
    clientSentPerCallMinute: perMinute(clientSent, callSeconds / 60),
    serverUpPerCallMinute: perMinute(serverUp, serverMinutes),
    sfuCpuMsPerCallSecond: cpuMs === null ? null : round(cpuMs, 3),
    qualityPushes: pushes.length,
    qualityLossMean: pushLoss.length ? round(pushLoss.reduce((a, b) => a + b, 0) / pushLoss.length, 4) : null,
  };
}

/** Per-second bitrate per cohort, client and server. */
export function bitrateSeries(o: ExperimentObservations): BitratePoint[] {
  const seconds = Math.max(0, ...COHORTS.flatMap((c) => [o.clientBytes.sent[c].length, o.clientBytes.received[c].length]));
  const kbps = (bytes: number | undefined) => round(((bytes ?? 0) * 8) / 1000);
  const server: Record<Cohort, Map<number, number>> = { video: new Map(), voice: new Map() };
  // A push's up legs are the producers' bitrate over the interval; summed per second of arrival.
  for (const { atMs, cohort, push } of o.qualityPushes) {
    const t = Math.floor(atMs / 1000);
    const up = push.legs.filter((l) => l.direction === 'up').reduce((s, l) => s + l.bitrateBps, 0);
    // Each participant gets the same push: halve so a call counts once.
    server[cohort].set(t, (server[cohort].get(t) ?? 0) + up / 2);
  }
  const anyServer = o.qualityPushes.length > 0;
  const interval = Math.max(1, Math.round((o.qualityIntervalMs ?? 1000) / 1000));
  const out: BitratePoint[] = [];
  for (let t = 0; t < seconds; t++) {
    const serverAt = (c: Cohort): number | null => {
      if (!anyServer) return null;
      // Pushes come every interval: the latest one within it stands for the second.
      for (let k = t; k > t - interval && k >= 0; k--) if (server[c].has(k)) return round(server[c].get(k)! / 1000);
      return 0;
    };
    out.push({
      t,
      clientSentKbps: { video: kbps(o.clientBytes.sent.video[t]), voice: kbps(o.clientBytes.sent.voice[t]) },
      clientReceivedKbps: { video: kbps(o.clientBytes.received.video[t]), voice: kbps(o.clientBytes.received.voice[t]) },
      serverUpKbps: { video: serverAt('video'), voice: serverAt('voice') },
    });
  }
  return out;
}

/** Ratio above which the two witnesses' bytes per call-minute are said to disagree. */
export const WITNESS_TOLERANCE = 0.25;
/** The video cohort moves at least this many times the voice cohort's bytes per call-minute. */
export const VIDEO_BYTES_FACTOR = 5;

/** The checks that make a run pass or fail, and notes worth reading. */
export function findingsOf(cohorts: CohortReport[], o: ExperimentObservations): Finding[] {
  const out: Finding[] = [];
  const fail = (text: string) => out.push({ severity: 'fail', text });
  const note = (text: string) => out.push({ severity: 'note', text });
  const by = Object.fromEntries(cohorts.map((c) => [c.cohort, c])) as Record<Cohort, CohortReport>;
  for (const c of cohorts) {
    if (c.calls.failed > 0) fail(`${c.cohort} cohort: ${c.calls.failed} of ${c.calls.attempted} calls failed`);
    if (c.tone.checks > c.tone.heard)
      fail(`${c.cohort} cohort: ${c.tone.checks - c.tone.heard} of ${c.tone.checks} audio legs did not carry the other side's tone`);
  }
  for (const c of cohorts) {
    const v = c.video;
    if (v.legs > 0 && v.decodableRatio !== null && v.decodableRatio < 0.5) {
      note(
        `${c.cohort} cohort video: ${(v.decodableRatio * 100).toFixed(0)}% of the frames sent could be shown (${((v.intactRatio ?? 0) * 100).toFixed(0)}% arrived whole, ` +
          `${v.keyFramesRequested} key frames asked for): most key frames lose a packet on the way (to loss or a full queue), and nothing resends them`,
      );
    }
  }
  const unexpectedRefusals = o.calls.filter((c) => c.outcome === 'refused' && !c.afterKillSwitch);
  if (unexpectedRefusals.length)
    fail(`${unexpectedRefusals.length} video calls between two users with the flag were refused before any kill switch`);
  const v = by.video?.clientBytesPerCallMinute;
  const a = by.voice?.clientBytesPerCallMinute;
  if (v != null && a != null && a > 0) {
    const ratio = v / a;
    if (by.video.calls.video > 0 && ratio < VIDEO_BYTES_FACTOR) {
      fail(`video cohort moves ${ratio.toFixed(1)}x the voice cohort's bytes per call-minute, expected at least ${VIDEO_BYTES_FACTOR}x`);
    } else note(`video cohort moves ${ratio.toFixed(1)}x the voice cohort's bytes per call-minute (client view)`);
  }
  for (const c of cohorts) {
    // Like for like: what the clients put on the wire is what the SFU received (downlink loss happens after the SFU counted).
    const client = c.clientSentPerCallMinute;
    const server = c.serverUpPerCallMinute;
    if (client != null && server != null && client > 0) {
      const diff = Math.abs(server - client) / client;
      if (diff > WITNESS_TOLERANCE) {
        fail(
          `${c.cohort} cohort: the SFU received ${fmtBytes(server)} per call-minute, the clients sent ${fmtBytes(client)} (${Math.round(diff * 100)}% apart)`,
        );
      }
    }
  }
  const k = o.killSwitch;
  if (k) {
    if (k.notClosed > 0 || k.closedLate > 0) {
      fail(
        `kill switch: ${k.notClosed} video producers never closed and ${k.closedLate} closed later than a second (of ${k.videoProducers})`,
      );
    }
    if (k.audioContinued < k.audioChecked)
      fail(`kill switch: audio stopped in ${k.audioChecked - k.audioContinued} of ${k.audioChecked} live video calls`);
    if (k.laterAsVideo > 0) fail(`kill switch: ${k.laterAsVideo} video calls were still placed after the flag went off`);
    note(
      `kill switch at ${(k.atMs / 1000).toFixed(1)} s: ${k.videoProducers} video producers in ${k.liveVideoCalls} live calls, ` +
        `${k.closedWithinSecond} closed within a second; ${k.laterVideoPairCalls} later video-pair calls: ${k.laterRefused} refused, ${k.laterAsVoice} went on as voice`,
    );
  }
  compareWithServerReport(cohorts, o, fail, note);
  for (const u of o.unavailable) note(`not measured: ${u}`);
  return out;
}

/** Counts of calls by the variant the server should file them under. */
export interface VariantTally {
  attempted: number;
  refused: number;
  answered: number;
  /** Invites so close to the kill switch that either variant is right. */
  ambiguous: number;
}

/**
 * The clients' calls tallied the server's way: each call:invite in the
 * variant of its caller's flag value at that moment (the cohort before a
 * kill switch, off after it). A video invite refused and placed again as
 * voice is two attempts, one refused.
 */
export function tallyByServerVariant(calls: CallRecord[], killAtMs: number | undefined): Record<'on' | 'off', VariantTally> {
  const tally = {
    on: { attempted: 0, refused: 0, answered: 0, ambiguous: 0 },
    off: { attempted: 0, refused: 0, answered: 0, ambiguous: 0 },
  };
  for (const c of calls) {
    if (c.invitedAtMs === undefined) continue;
    const at = c.invitedAtMs;
    const ambiguous = killAtMs !== undefined && at >= killAtMs - 250 && at <= killAtMs + 1000;
    const on = c.cohort === 'video' && (killAtMs === undefined || at < killAtMs);
    const v = tally[on ? 'on' : 'off'];
    if (c.downgraded) {
      // The refused video invite, then the voice one: both after the switch.
      tally.off.attempted += 2;
      tally.off.refused++;
      if (c.outcome === 'completed') tally.off.answered++;
      if (ambiguous) tally.off.ambiguous++;
      continue;
    }
    v.attempted++;
    if (c.outcome === 'refused') v.refused++;
    if (c.outcome === 'completed') v.answered++;
    if (ambiguous) v.ambiguous++;
  }
  return tally;
}

/** The server's flag report beside the clients' tally: calls attempted, refused and answered per variant. */
function compareWithServerReport(
  cohorts: CohortReport[],
  o: ExperimentObservations,
  fail: (t: string) => void,
  note: (t: string) => void,
): void {
  const report = o.flagReport;
  if (!report) return;
  const tally = tallyByServerVariant(o.calls, o.killSwitch?.atMs);
  for (const value of [true, false]) {
    const mine = tally[value ? 'on' : 'off'];
    const name = value ? 'flag-on' : 'flag-off';
    const variant = report.variants.find((v) => v.value === value);
    if (!variant) {
      if (mine.attempted > 0) fail(`the server report has no ${name} variant; the clients placed ${mine.attempted} calls in it`);
      continue;
    }
    for (const key of ['attempted', 'refused', 'answered'] as const) {
      if (Math.abs(variant.calls[key] - mine[key]) > mine.ambiguous) {
        fail(`${name} variant: the server counts ${variant.calls[key]} ${key} calls, the clients ${mine[key]}`);
      }
    }
  }
  for (const c of cohorts) {
    const variant = report.variants.find((v) => v.value === (c.cohort === 'video'));
    // After a kill switch every user's latest value is off: user counts compare only without one.
    if (variant && !o.killSwitch && variant.users !== c.users)
      fail(`${c.cohort} cohort: the server counts ${variant.users} exposed users, the clients ${c.users}`);
    const p50 = c.setupMs.summary.p50;
    if (variant && variant.calls.setupMsP50 != null && p50 != null) {
      note(
        `${c.cohort} cohort set-up p50: server ${Math.round(variant.calls.setupMsP50)} ms (invite to answer), clients ${Math.round(p50)} ms (invite to first audio heard)`,
      );
    }
  }
  if (o.exposures && !o.killSwitch) {
    for (const c of cohorts) {
      const e = o.exposures.find((x) => x.value === (c.cohort === 'video'));
      if (e && e.users < c.users) fail(`${c.cohort} cohort: ${c.users} users, but only ${e.users} exposures with that value`);
    }
  }
}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

const CPU_METHOD =
  'SFU worker CPU read every second; each interval shared among the cohorts by the packets their clients sent and received, divided by their call-seconds';

/** The whole report from what the run gathered. */
export function buildExperimentReport(
  head: Pick<ExperimentReport, 'startedAt' | 'durationMs' | 'gatewayUrls' | 'options' | 'network' | 'seed' | 'users' | 'friendships'>,
  o: ExperimentObservations,
): ExperimentReport {
  const cpu = cpuPerCallSecond(o.cpuSamples, [...COHORTS]);
  const cohorts = COHORTS.map((c) => summarizeCohort(c, o, cpu.byGroup[c] === null ? null : cpu.byGroup[c]! * 1000));
  const findings = findingsOf(cohorts, o);
  return {
    experiment: 'video',
    ...head,
    cohorts,
    bitrate: bitrateSeries(o),
    killSwitch: o.killSwitch,
    sfuCpu: {
      source: o.cpuSource ?? null,
      msPerCallSecond: cpu.overall === null ? null : round(cpu.overall * 1000, 3),
      samples: o.cpuSamples.length,
      method: CPU_METHOD,
    },
    server: { exposures: o.exposures, flagReport: o.flagReport, unavailable: o.unavailable },
    calls: o.calls,
    findings,
    passed: findings.every((f) => f.severity !== 'fail'),
  };
}

export { percentile };
