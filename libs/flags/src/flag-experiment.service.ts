import { Injectable } from '@nestjs/common';
import { DomainError, MAX_PAGE } from '@app/contracts';
import { decodeExposureCursor, encodeExposureCursor } from './exposure-cursor';
import { ExposureCount, ExposureRepository } from './exposure.repository';
import { FlagReportRepository, VariantCalls, VariantQuality } from './flag-report.repository';
import { FlagRepository } from './flag.repository';

export const DEFAULT_EXPOSURES_PAGE = 50;

export interface ExposurePage {
  exposures: ExposureCount[];
  nextCursor: string | null;
}

export interface FlagVariantReport {
  value: boolean;
  users: number;
  calls: Omit<VariantCalls, 'value'> & { quality: Omit<VariantQuality, 'value'>[] };
}

export interface FlagReport {
  key: string;
  since: Date | null;
  /** Off first, then on: both always present. */
  variants: FlagVariantReport[];
}

const VARIANTS = [false, true] as const;

/** Reading a flag's experiment: who was exposed to which value, and how calls went in each variant. */
@Injectable()
export class FlagExperimentService {
  constructor(
    private readonly flags: FlagRepository,
    private readonly exposures: ExposureRepository,
    private readonly reports: FlagReportRepository,
  ) {}

  async exposurePage(key: string, page: { limit?: number; cursor?: string } = {}): Promise<ExposurePage> {
    const after = decodeExposureCursor(page.cursor);
    await this.requireFlag(key);
    const limit = Math.min(Math.max(page.limit ?? DEFAULT_EXPOSURES_PAGE, 1), MAX_PAGE);
    const rows = await this.exposures.page(key, after, limit + 1);
    const exposures = rows.slice(0, limit);
    const last = exposures[exposures.length - 1];
    return {
      exposures,
      nextCursor: rows.length > limit && last ? encodeExposureCursor({ userId: last.userId, value: last.value }) : null,
    };
  }

  async report(key: string, since: Date | null = null): Promise<FlagReport> {
    await this.requireFlag(key);
    // Nothing is older than 1970; an earlier `since` (the contract allows year 0000, PostgreSQL does not) means the same.
    const from = since && since.getTime() < 0 ? new Date(0) : since;
    const [users, calls, quality] = await Promise.all([
      this.reports.usersByVariant(key, from),
      this.reports.callsByVariant(key, from),
      this.reports.qualityByVariant(key, from),
    ]);
    return {
      key,
      since,
      variants: VARIANTS.map((value) => {
        const c = calls.find((row) => row.value === value);
        return {
          value,
          users: users.find((row) => row.value === value)?.users ?? 0,
          calls: {
            attempted: c?.attempted ?? 0,
            refused: c?.refused ?? 0,
            answered: c?.answered ?? 0,
            durationSecondsMean: c?.durationSecondsMean ?? null,
            setupMsP50: c?.setupMsP50 ?? null,
            quality: quality.filter((q) => q.value === value).map(({ value: _value, ...q }) => q),
          },
        };
      }),
    };
  }

  private async requireFlag(key: string): Promise<void> {
    if (!(await this.flags.find(key))) throw DomainError.notFound(`flag "${key}"`);
  }
}
