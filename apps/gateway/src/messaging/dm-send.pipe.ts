import { PipeTransform } from '@nestjs/common';
import { schemas } from '@app/contracts';
import { ZodPipe } from '../common/zod.pipe';

/** `dm:send`'s payload: the hand-written check for the usual payload, zod for everything else and for the error. */
export class DmSendPipe implements PipeTransform<unknown, schemas.DmSend> {
  private readonly full = new ZodPipe(schemas.dmSend);

  transform(value: unknown): schemas.DmSend {
    return schemas.dmSendFast(value) ?? this.full.transform(value);
  }
}
