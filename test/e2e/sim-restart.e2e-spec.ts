import { MediaService, WorkerPool } from '@app/media';
import { startTestGateway, TestGateway } from '@app/testing';
import { DEFAULT_SIM_OPTIONS, runSimulation } from '../../apps/sim/src/simulation';

/**
 * The simulator through a media:restart: the gateway's one mediasoup worker
 * is killed while the calls are set up and talking, their rooms are opened
 * again on the replacement worker (`worker_died`), and the simulated clients
 * negotiate again by themselves. The run passes only if every leg hears its
 * tone again after the restart, and it reports the restarts.
 */
describe('simulator through a media restart', () => {
  jest.setTimeout(180_000);
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('renegotiates on media:restart, hears both tones again afterwards and counts the restarts', async () => {
    const media = gw.get(MediaService);
    const pool = gw.get(WorkerPool);
    const calls = 2;
    let killedPid: number | undefined;
    // Once every leg of both calls is consuming, the calls are about to talk or talking: kill the worker.
    const killer = (async () => {
      const deadline = Date.now() + 60_000;
      while ((await media.census()).consumers < 2 * calls) {
        if (Date.now() > deadline) throw new Error('the calls never carried media');
        await new Promise((r) => setTimeout(r, 20));
      }
      killedPid = pool.workers()[0].pid;
      process.kill(killedPid, 'SIGKILL');
    })();
    const report = await runSimulation({
      ...DEFAULT_SIM_OPTIONS,
      url: gw.url,
      users: 4,
      messagesPerUser: 1,
      messageRate: 50,
      calls,
      callSeconds: 2,
      concurrentCalls: calls,
      settleMs: 2000,
      seed: 3,
    });
    await killer;

    expect(killedPid).toBeDefined();
    expect(pool.workers()[0].pid).not.toBe(killedPid);
    expect(report.errors).toEqual([]);
    expect(report.calls).toMatchObject({ placed: calls, connected: calls, failed: 0, endedByReason: { hangup: calls } });
    // Both calls' rooms were on the one worker: each restarted once and carried its tones again.
    expect(report.calls.restarts).toBe(calls);
    expect(report.calls.callsRestarted).toBe(calls);
    expect(report.calls.audio).toMatchObject({ toneChecks: 2 * calls, tonePassed: 2 * calls });
    expect(report.passed).toBe(true);
  });
});
