import type { AppConfig } from '@app/config';

/** At most `points` uses per `durationS` seconds, counted per key (usually a user). */
export interface RateRule {
  points: number;
  durationS: number;
  /** Extra uses allowed beyond the steady rate, refilled over their own window. */
  burst?: { points: number; durationS: number };
}

/** Limit of each client→server socket event, per user, before EVENT_RATE_SCALE. */
export const EVENT_RATES_PER_SECOND: Readonly<Record<string, number>> = {
  'dm:history': 20,
  'dm:read': 20,
  'dm:typing': 10,
  'dm:sync': 20,
  'call:invite': 10,
  'call:accept': 10,
  'call:decline': 10,
  'call:cancel': 10,
  'call:hangup': 10,
  'media:capabilities': 50,
  // One request that does a transport pair, a producer and the consumers: counted like a call's own steps.
  'media:join': 10,
  'media:create-transport': 50,
  'media:connect-transport': 50,
  'media:produce': 50,
  'media:consume': 50,
  'media:resume': 50,
  'auth:refresh': 5,
};

/** Any event without a rule of its own (unknown names included). */
export const DEFAULT_EVENT_RATE_PER_SECOND = 20;

/** The rule names used besides event names. */
export const TYPING_PER_CONVERSATION = 'dm:typing/conversation';
export const DEFAULT_EVENT_RULE = '*';
/** HTTP requests bearing a valid user token, per user. */
export const HTTP_PER_USER = 'http:user';
/** HTTP requests without one, per client address. */
export const HTTP_PER_ADDRESS = 'http:address';

/** `perSecond` each second, and up to `burst` at once: the extra is refilled over the time the steady rate takes to use a burst. */
function steadyWithBurst(perSecond: number, burst: number): RateRule {
  return {
    points: perSecond,
    durationS: 1,
    burst: burst > perSecond ? { points: burst - perSecond, durationS: Math.max(1, Math.ceil(burst / perSecond)) } : undefined,
  };
}

/** Every rule, from the configuration. */
export function rateRules(
  config: Pick<AppConfig, 'dmRate' | 'eventRateScale'> & Partial<Pick<AppConfig, 'httpRate'>>,
): Record<string, RateRule> {
  const rules: Record<string, RateRule> = {};
  for (const [event, perSecond] of Object.entries(EVENT_RATES_PER_SECOND)) {
    rules[event] = { points: perSecond * config.eventRateScale, durationS: 1 };
  }
  rules[DEFAULT_EVENT_RULE] = { points: DEFAULT_EVENT_RATE_PER_SECOND * config.eventRateScale, durationS: 1 };
  // dm:send keeps its own variables: DM_RATE_PER_SEC each second, and up to DM_RATE_BURST
  // at once, the extra refilled over the time the steady rate takes to send a burst.
  rules['dm:send'] = steadyWithBurst(config.dmRate.perSecond, config.dmRate.burst);
  if (config.httpRate) {
    rules[HTTP_PER_USER] = steadyWithBurst(config.httpRate.perUser.perSecond, config.httpRate.perUser.burst);
    rules[HTTP_PER_ADDRESS] = steadyWithBurst(config.httpRate.perAddress.perSecond, config.httpRate.perAddress.burst);
  }
  // The protocol's own rule: one typing notice per second and conversation.
  rules[TYPING_PER_CONVERSATION] = { points: 1, durationS: 1 };
  return rules;
}
