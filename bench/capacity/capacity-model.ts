/**
 * What a given user load needs: gateway processes, media cores, PostgreSQL's
 * CPU and writes per second, and Redis operations per second, from per-operation
 * costs measured by `npm run bench`. Pure arithmetic: every figure it uses
 * is an input, and every assumption is printed with the answer.
 */

/** Per-operation costs, as the benchmarks measure them. */
export interface MeasuredCosts {
  /** Where the figures come from (a results file, or the committed baseline). */
  source: string;
  /** Gateway CPU per persisted DM, one process (µs). */
  gatewayCpuUsPerDm: number;
  /** Gateway CPU per persisted DM with several processes over Redis, summed over them (µs). */
  clusterCpuUsPerDm: number;
  /** Gateway CPU per call, invite to hang-up, media requests included (ms). */
  gatewayCpuMsPerCall: number;
  /** mediasoup worker CPU per second of a voice call (µs of CPU per call-second). */
  workerCpuUsPerVoiceCallSecond: number;
  /** The same for a video call (audio and video both ways). */
  workerCpuUsPerVideoCallSecond: number;
  /** Resident memory per idle connected socket (KiB). */
  rssKiBPerSocket: number;
  /** PostgreSQL's CPU per persisted DM, all its processes (µs). */
  postgresCpuUsPerDm: number;
  /** PostgreSQL's CPU per call, invite to hang-up (ms). */
  postgresCpuMsPerCall: number;
}

export interface LoadAssumptions {
  /** Busiest hour's rate over the day's average rate. */
  peakFactor: number;
  /** Share of users with a socket open at the peak. */
  onlineShare: number;
  /** Share of a core a process may use before another is added. */
  cpuHeadroom: number;
  /** Memory a gateway process may hold for sockets (MiB) before another is added. */
  gatewaySocketMemoryMiB: number;
  /** Database statements that write, per DM (the message insert; the conversation's seq move and the read mark ride in it). */
  dbWritesPerDm: number;
  /**
   * Writing statements per call: the invite, the answer and the end (each with its timers in it), the
   * media statistics, the call's history entry, and a share of the experiment's batched rows and of
   * pairs' first conversations.
   */
  dbWritesPerCall: number;
  /**
   * Redis operations per DM: its rate-limit count and its fan-out publish. At most: the DMs a
   * client sends in one turn share one count, and a DM between users on one process publishes nothing.
   */
  redisOpsPerDm: number;
  /** Redis operations per call: rate limits, fan-out of call:* events, the room's bus requests and announcements. */
  redisOpsPerCall: number;
  /** Redis operations per active call per second: quality pushes and heartbeats spread over calls. */
  redisOpsPerActiveCallSecond: number;
}

export const DEFAULT_ASSUMPTIONS: LoadAssumptions = {
  peakFactor: 3,
  onlineShare: 0.1,
  cpuHeadroom: 0.7,
  gatewaySocketMemoryMiB: 512,
  dbWritesPerDm: 1,
  dbWritesPerCall: 6,
  redisOpsPerDm: 2,
  redisOpsPerCall: 30,
  redisOpsPerActiveCallSecond: 0.4,
};

export interface LoadProfile {
  users: number;
  dmsPerUserHour: number;
  callsPerUserDay: number;
  callMinutes: number;
  /** Share of calls that carry video (0..1). */
  videoShare: number;
}

export interface CapacityPlan {
  load: LoadProfile;
  peak: {
    dmsPerSecond: number;
    callsStartedPerSecond: number;
    concurrentCalls: number;
    concurrentVideoCalls: number;
    onlineSockets: number;
  };
  gatewayCores: number;
  gatewayProcesses: number;
  /** Why that many: CPU or socket memory. */
  gatewayLimitedBy: 'cpu' | 'memory';
  mediaCores: number;
  /** PostgreSQL's CPU at the peak (cores), before any headroom: one server's, or the sum over shards. */
  postgresCores: number;
  postgresWritesPerSecond: number;
  redisOpsPerSecond: number;
  costs: MeasuredCosts;
  assumptions: LoadAssumptions;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Gateway CPU (cores) that a DM and call rate needs, several processes over Redis when more than one. */
export function gatewayCores(dmsPerSecond: number, callsPerSecond: number, costs: MeasuredCosts, processes: number): number {
  const usPerDm = processes > 1 ? costs.clusterCpuUsPerDm : costs.gatewayCpuUsPerDm;
  return (dmsPerSecond * usPerDm) / 1e6 + (callsPerSecond * costs.gatewayCpuMsPerCall) / 1e3;
}

/** PostgreSQL CPU (cores) that a DM and call rate needs. */
export function postgresCores(dmsPerSecond: number, callsPerSecond: number, costs: MeasuredCosts): number {
  return (dmsPerSecond * costs.postgresCpuUsPerDm) / 1e6 + (callsPerSecond * costs.postgresCpuMsPerCall) / 1e3;
}

/** The plan for a load, with the measured costs and the assumptions it took. */
export function planCapacity(load: LoadProfile, costs: MeasuredCosts, assumptions: LoadAssumptions = DEFAULT_ASSUMPTIONS): CapacityPlan {
  const a = assumptions;
  const dmsPerSecond = ((load.users * load.dmsPerUserHour) / 3600) * a.peakFactor;
  const callsStartedPerSecond = ((load.users * load.callsPerUserDay) / 86_400) * a.peakFactor;
  // Little's law: calls in progress = arrival rate × how long each lasts.
  const concurrentCalls = callsStartedPerSecond * load.callMinutes * 60;
  const concurrentVideoCalls = concurrentCalls * load.videoShare;
  const onlineSockets = load.users * a.onlineShare;

  // Processes for CPU: one process's cost first; past one, the cluster's dearer cost per DM.
  let cores = gatewayCores(dmsPerSecond, callsStartedPerSecond, costs, 1);
  let byCpu = Math.max(1, Math.ceil(cores / a.cpuHeadroom));
  if (byCpu > 1) {
    cores = gatewayCores(dmsPerSecond, callsStartedPerSecond, costs, byCpu);
    byCpu = Math.max(1, Math.ceil(cores / a.cpuHeadroom));
  }
  const byMemory = Math.max(1, Math.ceil((onlineSockets * costs.rssKiBPerSocket) / 1024 / a.gatewaySocketMemoryMiB));
  const gatewayProcesses = Math.max(byCpu, byMemory);

  const voiceCalls = concurrentCalls - concurrentVideoCalls;
  const mediaCpu = (voiceCalls * costs.workerCpuUsPerVoiceCallSecond + concurrentVideoCalls * costs.workerCpuUsPerVideoCallSecond) / 1e6;
  const mediaCores = concurrentCalls > 0 ? Math.max(1, Math.ceil(mediaCpu / a.cpuHeadroom)) : 0;

  return {
    load,
    peak: {
      dmsPerSecond: round(dmsPerSecond),
      callsStartedPerSecond: round(callsStartedPerSecond, 3),
      concurrentCalls: round(concurrentCalls, 1),
      concurrentVideoCalls: round(concurrentVideoCalls, 1),
      onlineSockets: Math.round(onlineSockets),
    },
    gatewayCores: round(cores, 3),
    gatewayProcesses,
    gatewayLimitedBy: byMemory > byCpu ? 'memory' : 'cpu',
    mediaCores,
    postgresCores: round(postgresCores(dmsPerSecond, callsStartedPerSecond, costs), 3),
    postgresWritesPerSecond: round(dmsPerSecond * a.dbWritesPerDm + callsStartedPerSecond * a.dbWritesPerCall, 1),
    redisOpsPerSecond:
      gatewayProcesses > 1 || mediaCores > 1
        ? round(
            dmsPerSecond * a.redisOpsPerDm + callsStartedPerSecond * a.redisOpsPerCall + concurrentCalls * a.redisOpsPerActiveCallSecond,
            1,
          )
        : 0,
    costs,
    assumptions: a,
  };
}

/*
 * CPU seconds a measured run should have used, by the model: for checking the
 * model against a run. The costs are linear, so a run's counts cost what the
 * same numbers per second cost in cores for one second.
 */
export function predictedGatewayCpuSeconds(run: { dms: number; calls: number; processes: number }, costs: MeasuredCosts): number {
  return gatewayCores(run.dms, run.calls, costs, run.processes);
}

export function predictedPostgresCpuSeconds(run: { dms: number; calls: number }, costs: MeasuredCosts): number {
  return postgresCores(run.dms, run.calls, costs);
}

/** Relative error of a prediction against what was measured (0.1 = 10% off). */
export function relativeError(predicted: number, measured: number): number {
  if (measured === 0) return predicted === 0 ? 0 : Infinity;
  return Math.abs(predicted - measured) / measured;
}

/** The plan as text a person reads: the answer first, then what it assumed. */
export function renderPlan(plan: CapacityPlan): string {
  const { load, peak, costs, assumptions: a } = plan;
  return [
    `Load: ${load.users.toLocaleString('en')} users, ${load.dmsPerUserHour} DMs per user-hour, ${load.callsPerUserDay} calls per user-day of ${load.callMinutes} min, ${Math.round(load.videoShare * 100)}% video`,
    `Peak (×${a.peakFactor} the day's average): ${peak.dmsPerSecond} DMs/s, ${peak.callsStartedPerSecond} calls started/s, ${peak.concurrentCalls} calls at once (${peak.concurrentVideoCalls} video), ${peak.onlineSockets.toLocaleString('en')} sockets`,
    '',
    `gateway processes   ${plan.gatewayProcesses}  (${plan.gatewayCores} cores of CPU; limited by ${plan.gatewayLimitedBy})`,
    `media cores         ${plan.mediaCores}`,
    `PostgreSQL writes/s ${plan.postgresWritesPerSecond}`,
    `PostgreSQL CPU      ${plan.postgresCores} cores`,
    `Redis operations/s  ${plan.redisOpsPerSecond}${plan.redisOpsPerSecond === 0 ? ' (one process: no Redis needed)' : ''}`,
    '',
    `Measured costs (${costs.source}): ${costs.gatewayCpuUsPerDm} µs gateway CPU per DM (${costs.clusterCpuUsPerDm} across processes), ` +
      `${costs.gatewayCpuMsPerCall} ms per call, worker ${costs.workerCpuUsPerVoiceCallSecond} µs per voice call-second and ` +
      `${costs.workerCpuUsPerVideoCallSecond} per video call-second, ${costs.rssKiBPerSocket} KiB per socket, ` +
      `PostgreSQL ${costs.postgresCpuUsPerDm} µs per DM and ${costs.postgresCpuMsPerCall} ms per call.`,
    `Assumptions: ${Math.round(a.onlineShare * 100)}% of users online at the peak; a process uses at most ${Math.round(a.cpuHeadroom * 100)}% of a core ` +
      `and ${a.gatewaySocketMemoryMiB} MiB for sockets; ${a.dbWritesPerDm} write per DM and ${a.dbWritesPerCall} per call; ` +
      `${a.redisOpsPerDm} Redis operations per DM, ${a.redisOpsPerCall} per call and ${a.redisOpsPerActiveCallSecond} per active call-second.`,
  ].join('\n');
}
