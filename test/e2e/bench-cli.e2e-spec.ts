import { BENCH_USAGE, parseBenchArgs, SUITES } from '../../bench/support/bench-args';

describe('npm run bench command line', () => {
  it('takes --quick, --only with known suite names, and --help', () => {
    expect(parseBenchArgs([])).toEqual({ quick: false, only: undefined, help: false });
    expect(parseBenchArgs(['--quick', '--only', 'messages,idle'])).toEqual({
      quick: true,
      only: new Set(['messages', 'idle']),
      help: false,
    });
    expect(parseBenchArgs(['--only=calls']).only).toEqual(new Set(['calls']));
    expect(parseBenchArgs(['-h']).help).toBe(true);
  });

  it('refuses unknown suite names and options instead of silently running nothing', () => {
    expect(() => parseBenchArgs(['--only', 'mesages'])).toThrow(
      `--only: unknown suite "mesages"; known: ${Object.keys(SUITES).join(', ')}`,
    );
    expect(() => parseBenchArgs(['--only', 'messages,nope'])).toThrow(/unknown suite "nope"/);
    expect(() => parseBenchArgs(['--only='])).toThrow(/unknown suite \(none given\)/);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/Unknown option '--fast'/);
    expect(() => parseBenchArgs(['extra'])).toThrow();
  });

  it('documents every suite in --help', () => {
    for (const name of Object.keys(SUITES)) expect(BENCH_USAGE).toContain(name);
  });
});
