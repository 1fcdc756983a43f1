import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { PROTOCOL_VERSION } from '@app/contracts';
import { buildAsyncApiDocument } from './asyncapi-document';
import { buildOpenApiDocument } from './openapi-document';


/** The protocol as data, generated from the contracts; the server's address is the one the client used. */
@Controller('docs')
export class DocsController {
  @Get('asyncapi.json')
  asyncApi(@Req() req: Request): unknown {
    return buildAsyncApiDocument({ host: hostOf(req), version: PROTOCOL_VERSION });
  }

  @Get('openapi.json')
  openApi(@Req() req: Request): unknown {
    return buildOpenApiDocument({ serverUrl: `${req.protocol}://${hostOf(req)}`, version: PROTOCOL_VERSION });
  }
}

function hostOf(req: Request): string {
  const host = req.headers.host ?? '';
  return /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost:3000';
}
