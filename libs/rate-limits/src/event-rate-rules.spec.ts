import { CLIENT_EVENT_NAMES } from '@app/contracts';
import {
  DEFAULT_EVENT_RULE,
  EVENT_RATES_PER_SECOND,
  HTTP_PER_ADDRESS,
  HTTP_PER_USER,
  TYPING_PER_CONVERSATION,
  rateRules,
} from './event-rate-rules';

describe(rateRules.name, () => {
  const config = { dmRate: { perSecond: 50, burst: 100 }, eventRateScale: 1 };

  it('has a limit for every client event of the protocol', () => {
    for (const event of CLIENT_EVENT_NAMES) {
      if (event !== 'dm:send') expect(EVENT_RATES_PER_SECOND[event]).toBeGreaterThan(0);
    }
    expect(rateRules(config)[DEFAULT_EVENT_RULE].points).toBeGreaterThan(0);
  });

  it('gives dm:send its steady rate and the rest of the burst on a window of its own', () => {
    expect(rateRules(config)['dm:send']).toEqual({ points: 50, durationS: 1, burst: { points: 50, durationS: 2 } });
    expect(rateRules({ ...config, dmRate: { perSecond: 1, burst: 3 } })['dm:send']).toEqual({
      points: 1,
      durationS: 1,
      burst: { points: 2, durationS: 3 },
    });
    expect(rateRules({ ...config, dmRate: { perSecond: 20, burst: 20 } })['dm:send'].burst).toBeUndefined();
  });

  it('scales every event limit but dm:send and the one typing notice a second per conversation', () => {
    const scaled = rateRules({ ...config, eventRateScale: 10 });
    expect(scaled['dm:history'].points).toBe(EVENT_RATES_PER_SECOND['dm:history'] * 10);
    expect(scaled['dm:send']).toEqual(rateRules(config)['dm:send']);
    expect(scaled[TYPING_PER_CONVERSATION]).toEqual({ points: 1, durationS: 1 });
  });

  it('limits HTTP per user and per address with a steady rate and a burst', () => {
    const rules = rateRules({
      ...config,
      httpRate: { perUser: { perSecond: 20, burst: 100 }, perAddress: { perSecond: 50, burst: 50 }, exemptCidrs: [] },
    });
    expect(rules[HTTP_PER_USER]).toEqual({ points: 20, durationS: 1, burst: { points: 80, durationS: 5 } });
    expect(rules[HTTP_PER_ADDRESS]).toEqual({ points: 50, durationS: 1, burst: undefined });
  });
});
