import { PipeTransform } from '@nestjs/common';
import type { ZodTypeAny, z } from 'zod';
import { DomainError } from '@app/contracts';

/** Validates a payload against its contract schema; failures name the fields. */
export class ZodPipe<S extends ZodTypeAny> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    private readonly what = 'payload',
  ) {}

  transform(value: unknown): z.infer<S> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const fields = result.error.issues.map((i) => ({
      field: i.path.length > 0 ? i.path.join('.') : this.what,
      message: i.message,
    }));
    throw new DomainError(
      'VALIDATION_FAILED',
      `invalid ${this.what}: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`.slice(0, 500),
      { fields },
    );
  }
}
