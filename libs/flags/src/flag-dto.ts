import type { FlagAuditEntryDto, FlagDefinitionDto } from '@app/contracts';
import { FlagAuditRecord, FlagDefinition, settingsOf } from './flag.repository';

/** The protocol's flag shapes, made only here. */
export function toFlagDefinitionDto(def: FlagDefinition): FlagDefinitionDto {
  return { ...settingsOf(def), updatedAt: def.updatedAt.toISOString() };
}

export function toFlagAuditEntryDto(entry: FlagAuditRecord): FlagAuditEntryDto {
  return { at: entry.at.toISOString(), actor: entry.actor, before: entry.before, after: entry.after };
}
