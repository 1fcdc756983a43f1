import { performance } from 'node:perf_hooks';
import {
  AdminClient,
  ClientError,
  deriveSeed,
  httpJson,
  isErrorCode,
  LinkImpairment,
  NetworkConditions,
  OpusEncoderSettings,
  RtpAddress,
  rtpAddressFor,
  SocialClient,
  sleep,
  VideoClip,
} from '@app/client';
import type { CallDto, ExposureDto, FlagReportDto } from '@app/contracts';
import { CallStartPacer, describe } from '../call-traffic';
import { createPopulation, disconnectAll, Population } from '../sim-population';
import { summarize } from '../sim-report';
import { restore, waitUntilEveryoneSees } from '../video-experiment';
import { assignCohorts, CallPlanner, Cohort, PlannedCall } from './call-plan';
import {
  buildExperimentReport,
  CallRecord,
  ExperimentObservations,
  ExperimentReport,
  KillSwitchRecord,
  LegRecord,
  serverBytesOf,
} from './experiment-report';
import { loadExperimentClip } from './clip-video';
import { expectedLossRatio } from './experiment-network';
import { ParticipantLinks, ParticipantMedia } from './participant-media';
import { findSfuCpuSource, CpuSample } from './sfu-cpu';

export interface VideoExperimentRunOptions {
  urls: string[];
  adminToken: string;
  metricsToken?: string;
  users: number;
  friendsPerUser: number;
  /** Share of users (0..1) the flag is switched on for. */
  videoShare: number;
  durationMs: number;
  concurrentCalls: number;
  /** call:invite per second at most, all callers together. */
  callRate: number;
  /** Planned talk time of each call, drawn between these (ms). */
  minTalkMs: number;
  maxTalkMs: number;
  network: NetworkConditions;
  networkProfile: string;
  seed: number;
  /** ms after the start at which the flag is switched off; undefined: never. */
  killSwitchAtMs?: number;
  rtpIp?: string;
  /** The gateways' CALL_QUALITY_INTERVAL_MS when known (to read the pushes' series). */
  qualityIntervalMs?: number;
  /** The VP8 clip video calls send (default: the experiment's 640x480 clip). */
  clip?: VideoClip;
  /** How participants set up their media: `join` (default: call:accept with join, media:join) or `steps` (one request per transport, producer and consumer). */
  setup?: MediaSetup;
}

export type MediaSetup = 'join' | 'steps';

export interface ExperimentProgress {
  phase: 'users' | 'flag' | 'calls' | 'server' | 'done';
  elapsedMs: number;
  callsDone: number;
}

const FLAG = 'video_call';
const SIGNAL_TIMEOUT_MS = 15_000;
const CALLER_TONE_HZ = 440;
const CALLEE_TONE_HZ = 660;
/** A decoded tone this far above the rest of the signal is the tone (good paths give about 35 dB, 20% loss about 20). */
const MIN_TONE_SNR_DB = 10;
/** A producer must be heard closed within this after the kill switch. */
const KILL_CLOSE_MS = 1000;

/**
 * The video experiment: users split into cohorts by the video_call flag
 * (switched on for a share through the admin API) call random friends for
 * the whole duration. Pairs who both have video place video calls carrying
 * VP8 video and Opus audio, the others voice calls; every leg goes through
 * the seeded network conditions in both directions, and the receivers check
 * what arrives. An optional kill switch turns the flag off mid-run. The
 * report puts the clients' measurements beside the server's (call:quality,
 * mediaStats, exposures, the flag report).
 */
export async function runVideoCallExperiment(
  options: VideoExperimentRunOptions,
  onProgress: (p: ExperimentProgress) => void = () => undefined,
): Promise<ExperimentReport> {
  const startedAt = new Date();
  const began = performance.now();
  const admin = new AdminClient(options.urls[0], options.adminToken);
  const progress = (phase: ExperimentProgress['phase']) =>
    onProgress({ phase, elapsedMs: performance.now() - began, callsDone: calls.length });
  const calls: CallRecord[] = [];
  const unavailable: string[] = [];
  let population: Population | undefined;
  const before = (await admin.listFlags()).find((f) => f.key === FLAG);
  try {
    progress('users');
    population = await createPopulation(options.urls, options.users, options.friendsPerUser);
    const { clients, friendships } = population;
    const addresses = await Promise.all(options.urls.map((u) => rtpAddressFor(u, options.rtpIp)));
    const rtpAddressOf = (c: SocialClient): RtpAddress | undefined => addresses[options.urls.indexOf(c.baseUrl)];

    progress('flag');
    // The server's report counts from here: each user's GET /flags below is an exposure to its value.
    const sinceIso = new Date().toISOString();
    const cohorts = assignCohorts(clients.length, options.videoShare, options.seed);
    const withVideo = new Set(cohorts.flatMap((c, i) => (c === 'video' ? [i] : [])));
    await admin.setFlag(FLAG, {
      enabled: true,
      rolloutPercent: 0,
      allowUserIds: [...withVideo].map((i) => clients[i].id),
      denyUserIds: [],
    });
    await waitUntilEveryoneSees(clients, withVideo);

    // The experiment's clock starts once the cohorts are in place.
    const t0 = performance.now();
    const untilMs = t0 + options.durationMs;
    const observations: ExperimentObservations = {
      cohorts,
      calls,
      clientBytes: { sent: { video: [], voice: [] }, received: { video: [], voice: [] } },
      qualityPushes: [],
      cpuSamples: [],
      unavailable,
      qualityIntervalMs: options.qualityIntervalMs,
    };
    const cohortOfCall = new Map<string, Cohort>();
    const quality = clients.map((client) =>
      client.on('call:quality', (push) => {
        const cohort = cohortOfCall.get(push.callId);
        if (cohort) observations.qualityPushes.push({ atMs: performance.now() - t0, cohort, push });
      }),
    );

    // SFU CPU, sampled each second beside the calls carrying media per cohort.
    const active: Record<Cohort, number> = { video: 0, voice: 0 };
    const packets: Record<Cohort, number> = { video: 0, voice: 0 };
    const cpuSource = await findSfuCpuSource(options.urls, options.metricsToken);
    if (cpuSource) observations.cpuSource = cpuSource.kind;
    else
      unavailable.push(
        'SFU CPU (the gateway exports neither media_worker_cpu_seconds_total nor media_node_worker_cpu, and its workers are not children of this process)',
      );
    const sampleCpu = async () => {
      const cpuSeconds = await cpuSource?.read();
      if (cpuSeconds !== undefined)
        observations.cpuSamples.push({
          atMs: performance.now() - t0,
          cpuSeconds,
          active: { ...active },
          packets: { ...packets },
        } satisfies CpuSample);
    };
    await sampleCpu();
    const cpuTimer = setInterval(() => void sampleCpu(), 1000);

    const killSwitch = options.killSwitchAtMs === undefined ? undefined : new KillSwitch(admin, t0, options.killSwitchAtMs);
    const planner = new CallPlanner(friendships, cohorts, options.seed, { minTalkMs: options.minTalkMs, maxTalkMs: options.maxTalkMs });
    const pacer = new CallStartPacer(options.callRate);
    const busy = new Set<number>();
    const clip = options.clip ?? loadExperimentClip();
    const expectedLoss = expectedLossRatio(options.network);
    // In-band FEC sized for the loss expected end to end (two hops); none on a clean path.
    const endToEndLoss = 1 - (1 - expectedLoss) ** 2;
    const opus: OpusEncoderSettings | undefined =
      endToEndLoss > 0 ? { fecLossPercent: Math.min(100, Math.ceil(endToEndLoss * 100)) } : undefined;
    const graceMs = (options.network.delayMs ?? 0) + (options.network.jitterMs ?? 0) + 1500;
    const live = new Set<LiveCall>();

    const meterFor = (cohort: Cohort) => (direction: 'sent' | 'received', bytes: number) => {
      packets[cohort]++;
      const t = Math.floor((performance.now() - t0) / 1000);
      const series = observations.clientBytes[direction][cohort];
      while (series.length <= t) series.push(0);
      series[t] += bytes;
    };

    progress('calls');
    const clock = setInterval(() => progress('calls'), 1000);
    const lanes = Array.from({ length: options.concurrentCalls }, async (_, lane) => {
      // Lanes start spread out, so calls do not all start and end in step.
      await sleep((lane / options.concurrentCalls) * Math.min(options.minTalkMs, 3000));
      while (performance.now() < untilMs - 1000) {
        const plan = planner.next(busy);
        if (!plan) {
          await sleep(100);
          continue;
        }
        busy.add(plan.caller);
        busy.add(plan.callee);
        // No call runs past the end of the experiment.
        const talkMs = Math.max(1000, Math.min(plan.talkMs, untilMs - performance.now() - 500));
        try {
          const record = await placeCall(
            { ...plan, talkMs },
            {
              population: population!,
              t0,
              pacer,
              killSwitch,
              network: options.network,
              seed: options.seed,
              rtpAddressOf,
              clip,
              opus,
              setup: options.setup ?? 'join',
              meter: meterFor(plan.cohort),
              onCallId: (id) => cohortOfCall.set(id, plan.cohort),
              active,
              live,
              expectedLoss,
              graceMs,
            },
          );
          calls.push(record);
        } finally {
          busy.delete(plan.caller);
          busy.delete(plan.callee);
        }
      }
    });
    const killing = killSwitch?.arm(live, untilMs);
    await Promise.all(lanes);
    await killing;
    clearInterval(clock);
    clearInterval(cpuTimer);
    await sampleCpu();
    for (const off of quality) off();
    if (observations.qualityPushes.length === 0)
      unavailable.push('call:quality pushes (none arrived: CALL_QUALITY_INTERVAL_MS 0, or a gateway without them)');
    observations.killSwitch = killSwitch?.record(calls);

    progress('server');
    await attachServerStats(clients, calls, unavailable);
    const server = await readServerView(options.urls[0], options.adminToken, sinceIso, new Set(clients.map((c) => c.id)), unavailable);
    observations.exposures = server.exposures;
    observations.flagReport = server.report;

    progress('done');
    return buildExperimentReport(
      {
        startedAt: startedAt.toISOString(),
        durationMs: Math.round(performance.now() - began),
        gatewayUrls: options.urls,
        options: { ...options, adminToken: '(set)', metricsToken: options.metricsToken ? '(set)' : undefined, clip: undefined },
        network: { ...options.network, profile: options.networkProfile },
        seed: options.seed,
        users: clients.length,
        friendships: friendships.length,
      },
      observations,
    );
  } finally {
    disconnectAll(population);
    if (before) await restore(admin, before).catch(() => undefined);
  }
}

/** A call carrying media right now, as the kill switch needs it. */
interface LiveCall {
  record: CallRecord;
  video: boolean;
  media: ParticipantMedia[];
  /** performance.now() when its talking ends, and when its hang-up went out. */
  talkUntil: number;
  hangupAt?: number;
}

interface PlaceContext {
  population: Population;
  t0: number;
  pacer: CallStartPacer;
  killSwitch?: KillSwitch;
  network: NetworkConditions;
  seed: number;
  rtpAddressOf: (c: SocialClient) => RtpAddress | undefined;
  clip: VideoClip;
  opus?: OpusEncoderSettings;
  setup: MediaSetup;
  meter: (direction: 'sent' | 'received', bytes: number) => void;
  onCallId: (callId: string) => void;
  active: Record<Cohort, number>;
  live: Set<LiveCall>;
  expectedLoss: number;
  graceMs: number;
}

async function placeCall(plan: PlannedCall, ctx: PlaceContext): Promise<CallRecord> {
  const caller = ctx.population.clients[plan.caller];
  const callee = ctx.population.clients[plan.callee];
  const afterKill = ctx.killSwitch?.fired ?? false;
  const record: CallRecord = {
    index: plan.index,
    cohort: plan.cohort,
    planned: plan.media,
    outcome: 'failed',
    downgraded: false,
    afterKillSwitch: afterKill,
    startedAtMs: Math.round(performance.now() - ctx.t0),
    talkSeconds: 0,
    clientSentBytes: 0,
    clientReceivedBytes: 0,
    legs: [],
  };
  const media: ParticipantMedia[] = [];
  let call: CallDto | undefined;
  let counted = false;
  let liveCall: LiveCall | undefined;
  let sent = 0;
  let received = 0;
  const meter = (direction: 'sent' | 'received', bytes: number) => {
    if (direction === 'sent') sent += bytes;
    else received += bytes;
    ctx.meter(direction, bytes);
  };
  try {
    await ctx.pacer.next();
    let invitedAt = performance.now();
    record.invitedAtMs = Math.round(invitedAt - ctx.t0);
    let kind = plan.media;
    try {
      call = await caller.calls.invite(callee.id, kind);
    } catch (err) {
      if (!isErrorCode(err, 'VIDEO_CALL_DISABLED')) throw err;
      record.outcome = 'refused';
      // After the kill switch a video pair's call goes on as voice; before it a refusal is a finding.
      if (!ctx.killSwitch?.fired) return record;
      record.downgraded = true;
      kind = 'audio';
      await ctx.pacer.next();
      invitedAt = performance.now();
      record.invitedAtMs = Math.round(invitedAt - ctx.t0);
      call = await caller.calls.invite(callee.id, kind);
    }
    record.callId = call.id;
    record.placedAs = kind;
    ctx.onCallId(call.id);
    const callId = call.id;
    const active = caller.calls.waitForState(callId, 'active', SIGNAL_TIMEOUT_MS);
    active.catch(() => undefined);
    await callee.calls.waitForCall(callId, SIGNAL_TIMEOUT_MS);
    const video = kind === 'video';
    const common = { video, meter, clip: ctx.clip, opus: ctx.opus };
    const callerOptions = { ...common, rtpAddress: ctx.rtpAddressOf(caller), links: linksOf(ctx.network, ctx.seed, plan.index, 'caller') };
    const calleeOptions = { ...common, rtpAddress: ctx.rtpAddressOf(callee), links: linksOf(ctx.network, ctx.seed, plan.index, 'callee') };
    let callerMedia: ParticipantMedia;
    let calleeMedia: ParticipantMedia;
    if (ctx.setup === 'join') {
      // Three round trips: the invite, the callee's accept with its join, the caller's join once active.
      calleeMedia = await ParticipantMedia.join(callee, callId, calleeOptions, 'accept');
      media[1] = calleeMedia;
      await active;
      callerMedia = await ParticipantMedia.join(caller, callId, callerOptions, 'join');
      media[0] = callerMedia;
    } else {
      await callee.calls.accept(callId);
      await active;
      const opened = await Promise.allSettled([
        ParticipantMedia.open(caller, callId, callerOptions),
        ParticipantMedia.open(callee, callId, calleeOptions),
      ]);
      opened.forEach((o, i) => o.status === 'fulfilled' && (media[i] = o.value));
      for (const o of opened) if (o.status === 'rejected') throw o.reason;
      [callerMedia, calleeMedia] = media;
    }
    const kinds: ('audio' | 'video')[] = video ? ['audio', 'video'] : ['audio'];
    const ready = await Promise.all(media.map((m) => m.receiving(kinds, SIGNAL_TIMEOUT_MS)));
    if (!ready.every(Boolean))
      throw new Error(`media not received in time: ${media.flatMap((m) => m.openErrors).join('; ') || 'no producer'}`);

    ctx.active[plan.cohort]++;
    counted = true;
    const talkStart = performance.now();
    liveCall = { record, video, media, talkUntil: talkStart + plan.talkMs };
    ctx.live.add(liveCall);
    await Promise.all([callerMedia.send(CALLER_TONE_HZ, plan.talkMs), calleeMedia.send(CALLEE_TONE_HZ, plan.talkMs)]);
    // Set-up ends when the caller first hears the callee.
    const heard = callerMedia.firstAudioAt();
    if (heard !== undefined) record.setupMs = heard - invitedAt;
    // The last packets are still on their (delayed) way.
    await sleep(ctx.graceMs);
    record.talkSeconds = Math.round((performance.now() - talkStart - ctx.graceMs) / 100) / 10;
    ctx.active[plan.cohort]--;
    counted = false;

    const ended = caller.calls.waitForState(callId, 'ended', SIGNAL_TIMEOUT_MS);
    ended.catch(() => undefined);
    liveCall.hangupAt = performance.now();
    await caller.calls.hangup(callId);
    await ended;

    // Judged once hung up (only completed calls' legs count): the call ends when its talking does.
    const passShare = Math.max(0.3, 1 - 2 * ctx.expectedLoss - 0.1);
    const legs = await Promise.all([
      legsOf('caller', callerMedia, calleeMedia, CALLEE_TONE_HZ, passShare, ctx.network),
      legsOf('callee', calleeMedia, callerMedia, CALLER_TONE_HZ, passShare, ctx.network),
    ]);
    record.legs = legs.flat();
    record.outcome = 'completed';
  } catch (err) {
    record.outcome = record.outcome === 'refused' && !record.downgraded ? 'refused' : 'failed';
    record.error = describe(err);
    if (call) await endQuietly(caller, call);
  } finally {
    if (counted) ctx.active[plan.cohort]--;
    if (liveCall) ctx.live.delete(liveCall);
    for (const m of media) m?.close();
    record.clientSentBytes = sent;
    record.clientReceivedBytes = received;
  }
  return record;
}

/** One participant's links, each leg and direction seeded apart from the run's seed, the call and who it is. */
function linksOf(network: NetworkConditions, seed: number, call: number, who: 'caller' | 'callee'): ParticipantLinks {
  const link = (label: string) =>
    LinkImpairment.affects(network) ? new LinkImpairment(network, deriveSeed(seed, `call${call}/${who}/${label}`)) : undefined;
  return {
    up: { audio: link('audio/up'), video: link('video/up') },
    down: { audio: link('audio/down'), video: link('video/down') },
  };
}

/** The two legs `receiver` got from `sender`: audio always, video when it was sent. */
async function legsOf(
  receiver: 'caller' | 'callee',
  mine: ParticipantMedia,
  theirs: ParticipantMedia,
  toneHz: number,
  passShare: number,
  network: NetworkConditions,
): Promise<LegRecord[]> {
  const out: LegRecord[] = [];
  const audio = mine.stats('audio');
  if (audio) {
    const sentFrames = theirs.audioOut?.framesSent ?? 0;
    const tone = mine.checkTone(toneHz, sentFrames, passShare);
    // Two hops of the path's delay; G.107's BurstR from the loss runs seen.
    const randomBurst = 1 / Math.max(1e-9, 1 - Math.min(audio.lossRatio, 0.99));
    const report = await mine.audioReport(
      toneHz,
      2 * ((network.delayMs ?? 0) + (network.jitterMs ?? 0) / 2),
      Math.max(1, audio.meanBurstPackets / randomBurst),
    );
    out.push({
      receiver,
      kind: 'audio',
      packets: audio.packets,
      bytes: audio.bytes,
      lossRatio: round4(audio.lossRatio),
      jitterMs: report ? round2(report.jitterMs) : undefined,
      lossAfterFec: report ? round4(report.lossAfterFec) : undefined,
      snrDb: report ? round2(report.snrDb) : undefined,
      mos: report ? round2(report.mos) : undefined,
      // Heard: enough of the other side's packets came byte for byte, and decoded in order (FEC, concealment) they are its tone.
      toneHeard:
        tone !== undefined &&
        report !== undefined &&
        tone.expected > 0 &&
        tone.exact >= passShare * tone.expected &&
        report.snrDb >= MIN_TONE_SNR_DB,
      tone: tone && { expected: tone.expected, exact: tone.exact, decoded: tone.decoded, decodedMatching: tone.decodedMatching },
    });
  }
  const video = mine.stats('video');
  if (video && theirs.videoOut) {
    const report = mine.videoReport(theirs.videoOut.framesSent);
    out.push({
      receiver,
      kind: 'video',
      packets: video.packets,
      bytes: video.bytes,
      lossRatio: round4(video.lossRatio),
      framesSent: report?.framesSent,
      framesIntact: report?.framesIntact,
      framesDecodable: report?.framesDecodable,
      freezeMs: report ? Math.round(report.freezeMs) : undefined,
      fps: report ? round2(report.fps) : undefined,
      keyFramesRequested: report?.keyFramesRequested,
    });
  }
  return out;
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

/**
 * Switches the flag off at its moment, through the admin API, and checks
 * what followed: every live video producer heard closed (flag_off) within a
 * second, audio still arriving in those calls afterwards.
 */
class KillSwitch {
  fired = false;
  firedAt?: number;
  private firedIso?: string;
  private live: LiveCall[] = [];
  private watched: LiveCall[] = [];
  private audioChecks: { call: LiveCall; continued: boolean }[] = [];

  constructor(
    private readonly admin: AdminClient,
    private readonly t0: number,
    private readonly atMs: number,
  ) {}

  async arm(live: Set<LiveCall>, untilMs: number): Promise<void> {
    const wait = this.t0 + this.atMs - performance.now();
    if (wait > 0) await sleep(wait);
    if (performance.now() >= untilMs) return;
    this.firedAt = performance.now();
    // Every video call with media up now; record() keeps those still not hung up when the close was due.
    this.live = [...live].filter((c) => c.video);
    this.firedIso = new Date().toISOString();
    await this.admin.setFlag(FLAG, { enabled: false });
    this.fired = true;
    // Audio must keep arriving afterwards: look a little after the close deadline, in calls still talking then.
    await sleep(KILL_CLOSE_MS + 1000);
    const from = this.firedAt + KILL_CLOSE_MS;
    for (const call of this.live) {
      // Audio is judged only in calls that went on talking well past the close.
      if (call.talkUntil < from + 500) continue;
      const continued = call.media.every((m) => m.audioArrivalsAfter(from) > 0);
      this.audioChecks.push({ call, continued });
    }
  }

  record(calls: CallRecord[]): KillSwitchRecord | undefined {
    if (this.firedAt === undefined) return undefined;
    // A call hung up before the close was due may have closed its video by ending: not a witness.
    const due = this.firedAt + KILL_CLOSE_MS;
    this.watched = this.live.filter((c) => c.hangupAt === undefined || c.hangupAt > due);
    const latencies: number[] = [];
    let within = 0;
    let late = 0;
    let never = 0;
    const producers: KillSwitchRecord['producers'] = [];
    for (const call of this.watched) {
      call.media.forEach((m, side) => {
        if (!m.videoOut) return;
        // Each sender hears its own producer closed.
        const closed = m.videoClosed;
        producers.push({
          call: call.record.index,
          sender: side === 0 ? 'caller' : 'callee',
          closedAfterMs: closed ? Math.round(closed.at - this.firedAt!) : null,
          reason: closed?.reason ?? null,
        });
        if (!closed || closed.reason !== 'flag_off') never++;
        else {
          const ms = closed.at - this.firedAt!;
          latencies.push(Math.round(ms));
          if (ms <= KILL_CLOSE_MS) within++;
          else late++;
        }
      });
    }
    const later = calls.filter((c) => c.afterKillSwitch && c.planned === 'video');
    return {
      atMs: Math.round(this.firedAt - this.t0),
      at: this.firedIso!,
      liveVideoCalls: this.watched.length,
      videoProducers: this.watched.reduce((n, c) => n + c.media.filter((m) => m.videoOut).length, 0),
      closedWithinSecond: within,
      closedLate: late,
      notClosed: never,
      closeLatencyMs: summarize(latencies),
      producers,
      audioContinued: this.audioChecks.filter((c) => c.continued).length,
      audioChecked: this.audioChecks.length,
      laterVideoPairCalls: later.length,
      laterRefused: later.filter((c) => c.outcome === 'refused' || c.downgraded).length,
      laterAsVoice: later.filter((c) => c.downgraded && c.outcome === 'completed').length,
      laterAsVideo: later.filter((c) => c.placedAs === 'video').length,
    };
  }
}

/** Each completed call's mediaStats from the caller's history (GET /calls). */
async function attachServerStats(clients: SocialClient[], calls: CallRecord[], unavailable: string[]): Promise<void> {
  const byCaller = new Map<SocialClient, CallRecord[]>();
  const wanted = calls.filter((c) => c.callId && c.outcome === 'completed');
  const byId = new Map(wanted.map((c) => [c.callId!, c]));
  for (const client of clients) byCaller.set(client, []);
  let found = 0;
  for (const client of clients) {
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      let res;
      try {
        res = await client.calls.historyPage({ limit: 100, cursor });
      } catch {
        break;
      }
      for (const call of res.items) {
        const record = byId.get(call.id);
        if (!record || call.callerId !== client.id) continue;
        const bytes = serverBytesOf(call.mediaStats);
        if (bytes) {
          record.serverUpBytes = bytes.up;
          record.serverDownBytes = bytes.down;
          record.serverSampledSeconds = call.mediaStats!.sampledSeconds;
          found++;
        }
      }
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
  }
  if (wanted.length > 0 && found === 0) unavailable.push('server bytes per call-minute (no mediaStats in GET /calls)');
}

/** Exposures per value and the flag report, each undefined (and noted) when the gateway does not serve it. */
async function readServerView(
  url: string,
  adminToken: string,
  since: string,
  ourUsers: Set<string>,
  unavailable: string[],
): Promise<{ exposures?: { value: boolean; users: number }[]; report?: FlagReportDto }> {
  let exposures: { value: boolean; users: number }[] | undefined;
  try {
    const all: ExposureDto[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const qs: string = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res: { exposures: ExposureDto[]; nextCursor: string | null } = await httpJson(
        url,
        'GET /admin/flags/:key/exposures',
        `/admin/flags/${FLAG}/exposures${qs}`,
        { token: adminToken },
      );
      // Only this run's users: the flag may have been seen by anyone before.
      all.push(...res.exposures.filter((e) => ourUsers.has(e.userId)));
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
    exposures = [true, false].map((value) => ({ value, users: new Set(all.filter((e) => e.value === value).map((e) => e.userId)).size }));
  } catch (err) {
    unavailable.push(`exposures (GET /admin/flags/${FLAG}/exposures: ${describeHttp(err)})`);
  }
  let report: FlagReportDto | undefined;
  try {
    report = await httpJson(url, 'GET /admin/flags/:key/report', `/admin/flags/${FLAG}/report?since=${encodeURIComponent(since)}`, {
      token: adminToken,
    });
  } catch (err) {
    unavailable.push(`server flag report (GET /admin/flags/${FLAG}/report: ${describeHttp(err)})`);
  }
  return { exposures, report };
}

function describeHttp(err: unknown): string {
  return err instanceof ClientError ? `${err.status ?? ''} ${err.code}`.trim() : describe(err);
}

async function endQuietly(caller: SocialClient, call: CallDto): Promise<void> {
  const last = caller.calls.get(call.id) ?? call;
  try {
    if (last.state === 'ringing') await caller.calls.cancel(call.id);
    else if (last.state === 'active') await caller.calls.hangup(call.id);
  } catch {
    // Already ended, or the gateway is gone.
  }
}
