export * from './flag-evaluator';
export * from './flags.module';
export * from './flags.service';
export { FlagAdminService } from './flag-admin.service';
export { DatabaseFlagProvider } from './database-flag.provider';
export { FLAG_EVALUATIONS_METRIC } from './flag-evaluation-metrics.hook';
export { FLAG_CHANGE_CHANNEL, settingsOf } from './flag.repository';
export type { FlagAuditRecord, FlagChange, FlagDefinition, FlagSettings } from './flag.repository';
export { toFlagAuditEntryDto, toFlagDefinitionDto } from './flag-dto';
