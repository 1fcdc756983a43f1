import type { ExposureDto, FlagAuditEntryDto, FlagDefinitionDto, FlagReportDto } from '@app/contracts';
import type { ExposureCount } from './exposure.repository';
import type { FlagReport } from './flag-experiment.service';
import { FlagAuditRecord, FlagDefinition, settingsOf } from './flag.repository';

/** The protocol's flag shapes, made only here. */
export function toFlagDefinitionDto(def: FlagDefinition): FlagDefinitionDto {
  return { ...settingsOf(def), updatedAt: def.updatedAt.toISOString() };
}

export function toFlagAuditEntryDto(entry: FlagAuditRecord): FlagAuditEntryDto {
  return { at: entry.at.toISOString(), actor: entry.actor, before: entry.before, after: entry.after };
}

export function toExposureDto(e: ExposureCount): ExposureDto {
  return {
    userId: e.userId,
    value: e.value,
    firstAt: e.firstAt.toISOString(),
    lastAt: e.lastAt.toISOString(),
    count: e.count,
  };
}

/** Means the stored data cannot give (no legs carried the field) are 0, never NaN; a mean is kept within its range. */
export function toFlagReportDto(report: FlagReport): FlagReportDto {
  return {
    key: report.key,
    since: report.since?.toISOString() ?? null,
    variants: report.variants.map((v) => ({
      value: v.value,
      users: v.users,
      calls: {
        attempted: v.calls.attempted,
        refused: v.calls.refused,
        answered: v.calls.answered,
        durationSecondsMean: nonNegativeOrNull(v.calls.durationSecondsMean),
        setupMsP50: nonNegativeOrNull(v.calls.setupMsP50),
        quality: v.calls.quality.map((q) => ({
          kind: q.kind,
          legs: q.legs,
          lossRatioMean: Math.min(1, nonNegative(q.lossRatioMean)),
          jitterMsP50Mean: nonNegative(q.jitterMsP50Mean),
          jitterMsP95Mean: nonNegative(q.jitterMsP95Mean),
          bitrateBpsMean: nonNegative(q.bitrateBpsMean),
          bytesPerMinuteMean: nonNegative(q.bytesPerMinuteMean),
          ...(q.scoreMean === null ? {} : { scoreMean: Math.min(10, nonNegative(q.scoreMean)) }),
        })),
      },
    })),
  };
}

function nonNegative(n: number | null): number {
  return n !== null && Number.isFinite(n) && n > 0 ? n : 0;
}

function nonNegativeOrNull(n: number | null): number | null {
  return n === null || !Number.isFinite(n) ? null : Math.max(0, n);
}
