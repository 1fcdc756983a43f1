import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, map } from 'rxjs';
import { okAck } from '@app/contracts';

/** A handler's return value becomes `{ ok: true, data }` (never nil, so Nest always acks). */
@Injectable()
export class WsAckInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data) => okAck(data ?? {})));
  }
}
