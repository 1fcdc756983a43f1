import {
  EvaluationContext,
  FlagNotFoundError,
  JsonValue,
  OpenFeatureEventEmitter,
  Provider,
  ProviderEvents,
  ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  TypeMismatchError,
} from '@openfeature/server-sdk';
import type { FlagDefinitionCache } from './flag-definition.cache';
import { FlagDecision, decideFlag, isOnDecision } from './flag-evaluator';

const REASON_BY_DECISION: Record<FlagDecision, string> = {
  denied: StandardResolutionReasons.TARGETING_MATCH,
  disabled: StandardResolutionReasons.DISABLED,
  allowed: StandardResolutionReasons.TARGETING_MATCH,
  rollout_in: StandardResolutionReasons.SPLIT,
  rollout_out: StandardResolutionReasons.SPLIT,
};

/**
 * OpenFeature provider over this server's own flag store: boolean flags,
 * evaluated for `targetingKey` (the user id) from the in-memory definitions.
 * Another provider (flagd, Unleash...) could take its place behind FlagsService.
 */
export class DatabaseFlagProvider implements Provider {
  readonly metadata = { name: 'social-backend-database' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();

  constructor(private readonly definitions: FlagDefinitionCache) {}

  /** Tells OpenFeature clients (and so FlagsService.onChange listeners) that these flags changed. */
  announceChanged(keys: string[]): void {
    if (keys.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: keys });
  }

  async resolveBooleanEvaluation(flagKey: string, _defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    const rule = this.definitions.get(flagKey);
    if (!rule) throw new FlagNotFoundError(`no flag "${flagKey}"`);
    if (!context.targetingKey) throw new TargetingKeyMissingError('flags are evaluated per user: targetingKey is the user id');
    const decision = decideFlag(rule, context.targetingKey);
    const on = isOnDecision(decision);
    return {
      value: on,
      variant: on ? 'on' : 'off',
      reason: REASON_BY_DECISION[decision],
      flagMetadata: { decision },
    };
  }

  async resolveStringEvaluation(flagKey: string): Promise<ResolutionDetails<string>> {
    throw new TypeMismatchError(`flag "${flagKey}" is boolean`);
  }

  async resolveNumberEvaluation(flagKey: string): Promise<ResolutionDetails<number>> {
    throw new TypeMismatchError(`flag "${flagKey}" is boolean`);
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string): Promise<ResolutionDetails<T>> {
    throw new TypeMismatchError(`flag "${flagKey}" is boolean`);
  }
}
