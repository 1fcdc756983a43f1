import { AdminClient, isErrorCode, SocialClient, sleep } from '@app/client';
import type { FlagDefinitionDto } from '@app/contracts';
import { describe, planWaves } from './call-traffic';
import type { Population } from './sim-population';
import type { VideoExperimentFindings } from './sim-report';
import { SeededRandom, mapWithLimit } from './seeded-random';

export interface VideoExperimentOptions {
  /** Share of users (0..1) the video_call flag is switched on for. */
  share: number;
  calls: number;
  concurrentCalls: number;
}

const FLAG = 'video_call';
const SIGNAL_TIMEOUT_MS = 15_000;

/**
 * Switches video_call on for a share of the users through the admin API
 * (an allow list), waits until every user sees its own value, then places
 * video calls between random friends: a call is expected to be refused with
 * VIDEO_CALL_DISABLED unless the flag is on for both. The flag's earlier
 * definition is put back afterwards.
 */
export async function runVideoExperiment(
  population: Population,
  admin: AdminClient,
  random: SeededRandom,
  options: VideoExperimentOptions,
  progress: () => void,
  errors: string[],
): Promise<VideoExperimentFindings> {
  const { clients } = population;
  const withVideo = new Set(random.shuffle(clients.map((_, i) => i)).slice(0, Math.round(options.share * clients.length)));
  const before = (await admin.listFlags()).find((f) => f.key === FLAG);
  const findings: VideoExperimentFindings = {
    share: options.share,
    usersWithVideo: withVideo.size,
    attempted: 0,
    refused: 0,
    completed: 0,
    unexpected: 0,
    failed: 0,
  };
  try {
    await admin.setFlag(FLAG, {
      enabled: true,
      rolloutPercent: 0,
      allowUserIds: [...withVideo].map((i) => clients[i].id),
      denyUserIds: [],
    });
    await waitUntilEveryoneSees(clients, withVideo);
    for (const wave of planWaves(population.friendships, options.calls, options.concurrentCalls, random)) {
      await Promise.all(
        wave.map(async ([a, b]) => {
          const expected = withVideo.has(a) && withVideo.has(b);
          findings.attempted++;
          try {
            const outcome = await placeVideoCall(clients[a], clients[b]);
            if (outcome === 'refused') findings.refused++;
            else findings.completed++;
            if ((outcome === 'completed') !== expected) {
              findings.unexpected++;
              if (errors.length < 20) errors.push(`video call ${a}->${b}: ${outcome}, expected ${expected ? 'completed' : 'refused'}`);
            }
          } catch (err) {
            findings.failed++;
            if (errors.length < 20) errors.push(`video call ${a}->${b}: ${describe(err)}`);
          } finally {
            progress();
          }
        }),
      );
    }
  } finally {
    if (before) await restore(admin, before).catch((err) => errors.push(`restoring ${FLAG}: ${describe(err)}`));
  }
  return findings;
}

async function placeVideoCall(caller: SocialClient, callee: SocialClient): Promise<'refused' | 'completed'> {
  let callId: string;
  try {
    callId = (await caller.calls.invite(callee.id, 'video')).id;
  } catch (err) {
    if (isErrorCode(err, 'VIDEO_CALL_DISABLED')) return 'refused';
    throw err;
  }
  await callee.calls.waitForCall(callId, SIGNAL_TIMEOUT_MS);
  const active = caller.calls.waitForState(callId, 'active', SIGNAL_TIMEOUT_MS);
  active.catch(() => undefined);
  await callee.calls.accept(callId);
  await active;
  await caller.calls.hangup(callId);
  return 'completed';
}

/** Flag changes may take a moment to reach every gateway process; poll each user's own view. */
export async function waitUntilEveryoneSees(clients: SocialClient[], withVideo: Set<number>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = clients.map((_, i) => i);
  while (pending.length > 0) {
    const views = await mapWithLimit(pending, 8, async (i) => (await clients[i].flags.get())[FLAG] === withVideo.has(i));
    pending = pending.filter((_, k) => !views[k]);
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending.length} users still see the old ${FLAG} value`);
    await sleep(100);
  }
}

export function restore(admin: AdminClient, flag: FlagDefinitionDto): Promise<unknown> {
  return admin.setFlag(flag.key, {
    enabled: flag.enabled,
    rolloutPercent: flag.rolloutPercent,
    allowUserIds: flag.allowUserIds,
    denyUserIds: flag.denyUserIds,
  });
}
