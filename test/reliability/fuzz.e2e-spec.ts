import { startTestGateway, TestGateway } from '@app/testing';
import { runFuzzCampaign } from './support/fuzz-campaign';
import { fuzzSeed } from './support/seeded-random';

/**
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>; FUZZ_ROUNDS
 * and FUZZ_HTTP_CASES change the size, FUZZ_PROGRESS=1 prints progress.
 */
describe('bad input: seeded fuzzing of every socket event and HTTP route', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '200', DM_RATE_BURST: '200', EVENT_RATE_SCALE: '100' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("answers thousands of bad payloads with protocol errors, leaks nothing, changes no one else's rows", async () => {
    const report = await runFuzzCampaign(gw, {
      seed: fuzzSeed(20261125),
      socketCasesPerEvent: Number(process.env.FUZZ_ROUNDS ?? 100),
      httpCases: Number(process.env.FUZZ_HTTP_CASES ?? 800),
    });
    expect(report.failures).toEqual([]);
    expect(report.socketCases + report.httpCases).toBeGreaterThanOrEqual(Number(process.env.FUZZ_ROUNDS ?? 100) * 16);
    expect(report.victimRowsUnchanged).toBe(true);
    expect(report.healthyAfter).toBe(true);
    // The fuzzer got past validation into authorisation and state checks.
    expect(Object.keys(report.answers)).toEqual(expect.arrayContaining(['ok', 'VALIDATION_FAILED', 'NOT_FOUND']));
  }, 600_000);
});
