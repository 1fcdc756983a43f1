import { startTestGateway, TestGateway } from '@app/testing';
import { fuzzedEventNames, runFuzzCampaign } from './support/fuzz-campaign';
import { fuzzSeed } from '../support/seeded-random';

/** The fuzz campaign at length: many seeds, then one long run of the default seed, each on the same long-running gateway. */
describe('soak: fuzzing with many seeds', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { DM_RATE_PER_SEC: '1000', DM_RATE_BURST: '1000', EVENT_RATE_SCALE: '100' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  const seeds = Number(process.env.SOAK_FUZZ_SEEDS ?? 20);
  const base = fuzzSeed(1);
  it(`survives ${seeds} seeded campaigns of 4,000 cases each`, async () => {
    const failures: string[] = [];
    for (let i = 0; i < seeds; i++) {
      const report = await runFuzzCampaign(gw, { seed: base + i, socketCasesPerEvent: 200, httpCases: 1000 });
      failures.push(...report.failures);
      expect(report.victimRowsUnchanged).toBe(true);
      expect(report.healthyAfter).toBe(true);
    }
    expect(failures).toEqual([]);
  });

  const payloads = Number(process.env.SOAK_FUZZ_PAYLOADS ?? 100_000);
  it(`answers at least ${payloads} payloads of the default seed: no silence, no crash, no cross-user write`, async () => {
    const httpCases = Math.round(payloads / 5);
    const rounds = Math.ceil((payloads - httpCases) / fuzzedEventNames().length);
    const report = await runFuzzCampaign(gw, { seed: fuzzSeed(20261125), socketCasesPerEvent: rounds, httpCases });
    process.stderr.write(
      `long fuzz: ${report.socketCases} socket + ${report.httpCases} HTTP payloads, answers ${JSON.stringify(report.answers)}\n`,
    );
    expect(report.failures).toEqual([]);
    expect(report.socketCases + report.httpCases).toBeGreaterThanOrEqual(payloads);
    expect(report.victimRowsUnchanged).toBe(true);
    expect(report.healthyAfter).toBe(true);
  });
});
