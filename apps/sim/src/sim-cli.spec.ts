import { parseCli, UsageError } from './sim-cli';
import { parseEventTimes, meanEventMs, sumEventTimes } from './server-timing';
import { gatewayUrlsOf } from './simulation';

describe('simulator command line: gateways', () => {
  it('takes no --url as "start one here" and one --url as before', () => {
    expect(parseCli([], {})).toMatchObject({ urls: [] });
    expect(parseCli(['--url', 'http://gw.local:3000'], {})).toMatchObject({ urls: ['http://gw.local:3000'] });
  });

  it('takes several gateways comma-separated, with --url repeated, or both, in order', () => {
    expect(parseCli(['--url', 'http://127.0.0.1:3001,http://127.0.0.1:3002'], {})).toMatchObject({
      urls: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'],
    });
    expect(parseCli(['--url', 'http://a:3001', '--url', 'http://b:3002'], {})).toMatchObject({ urls: ['http://a:3001', 'http://b:3002'] });
    expect(parseCli(['--url', 'http://a:3001, http://b:3002', '--url', 'http://c:3003'], {})).toMatchObject({
      urls: ['http://a:3001', 'http://b:3002', 'http://c:3003'],
    });
  });

  it('names the bad entry of a list', () => {
    expect(() => parseCli(['--url', 'http://a:3001,gateway-b'], {})).toThrow(UsageError);
    expect(() => parseCli(['--url', 'http://a:3001,gateway-b'], {})).toThrow(/got "gateway-b" in "http:\/\/a:3001,gateway-b"/);
    expect(() => parseCli(['--url', 'http://a:3001', '--url', 'nope'], {})).toThrow(/--url .*got "nope"$/);
    // A stray comma leaves an empty entry, which is no URL either.
    expect(() => parseCli(['--url', 'http://a:3001,'], {})).toThrow(/got ""/);
    expect(() => parseCli(['--url'], {})).toThrow(UsageError);
  });

  it('refuses a gateway listed twice and fewer users than gateways', () => {
    expect(() => parseCli(['--url', 'http://a:3001,http://a:3001/'], {})).toThrow(/twice/);
    expect(() => parseCli(['--url', 'http://a:1,http://b:2,http://c:3', '--users', '2'], {})).toThrow(
      /--users must be at least the number of gateways \(3\)/,
    );
  });

  it('keeps the single url of existing callers working', () => {
    expect(gatewayUrlsOf({ url: 'http://a:1' })).toEqual(['http://a:1']);
    expect(gatewayUrlsOf({ url: 'http://a:1', urls: ['http://b:2', 'http://c:3'] })).toEqual(['http://b:2', 'http://c:3']);
    expect(() => gatewayUrlsOf({ urls: [] })).toThrow(/url or urls/);
  });
});

describe('simulator command line: numbers', () => {
  it('takes numbers in range and refuses blank, fractional or out-of-range ones, naming the option', () => {
    expect(parseCli(['--messages', '0', '--message-rate', '2.5'], {})).toMatchObject({ messagesPerUser: 0, messageRate: 2.5 });
    // Number('') is 0: a blank value must not pass as "no messages".
    expect(() => parseCli(['--messages', ''], {})).toThrow(/--messages must be an integer from 0 to 100000, got ""/);
    expect(() => parseCli(['--messages', ' '], {})).toThrow(UsageError);
    expect(() => parseCli(['--calls', '1.5'], {})).toThrow(/--calls must be an integer/);
    expect(() => parseCli(['--users', '1'], {})).toThrow(/--users must be an integer from 2 to 10000, got "1"/);
    expect(() => parseCli(['--message-rate', 'fast'], {})).toThrow(/--message-rate must be a number from 0.1/);
  });
});

describe('server timing of several gateways', () => {
  it('adds the gateways up before taking the mean', () => {
    const line = (kind: string, event: string, v: number) => `socket_event_duration_seconds_${kind}{event="${event}",outcome="ok"} ${v}`;
    const a = parseEventTimes([line('sum', 'call:invite', 0.01), line('count', 'call:invite', 1)].join('\n'));
    const b = parseEventTimes(
      [line('sum', 'call:invite', 0.09), line('count', 'call:invite', 3), line('sum', 'dm:send', 0.002), line('count', 'dm:send', 1)].join(
        '\n',
      ),
    );
    const before = sumEventTimes([new Map(), new Map()]);
    // 4 invites that took 100 ms together: 25 ms each, not the mean of the two gateways' means (10 and 30).
    expect(meanEventMs(before, sumEventTimes([a, b]))).toEqual({ 'call:invite': 25, 'dm:send': 2 });
  });
});
