import type { Counter } from 'prom-client';
import type { EvaluationDetails, FlagValue, Hook, HookContext } from '@openfeature/server-sdk';

export const FLAG_EVALUATIONS_METRIC = 'flag_evaluations_total';

/** Counts every evaluation by flag and result (on, off, error): the experiment's exposure figures. */
export class FlagEvaluationMetricsHook implements Hook {
  constructor(private readonly evaluations: Counter<'flag' | 'result'>) {}

  after(hookContext: Readonly<HookContext<FlagValue>>, details: EvaluationDetails<FlagValue>): void {
    this.evaluations.inc({ flag: hookContext.flagKey, result: details.value === true ? 'on' : 'off' });
  }

  error(hookContext: Readonly<HookContext<FlagValue>>): void {
    this.evaluations.inc({ flag: hookContext.flagKey, result: 'error' });
  }
}
