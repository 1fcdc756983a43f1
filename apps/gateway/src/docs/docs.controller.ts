import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { protocolDocuments } from './protocol-documents';

/**
 * The protocol as data: the documents committed in docs/ (built once per
 * process from the same contracts), with the server the client reached.
 */
@Controller('docs')
export class DocsController {
  @Get('asyncapi.json')
  asyncApi(@Req() req: Request): unknown {
    const doc = protocolDocuments().asyncapi as { servers: Record<string, object> };
    return { ...doc, servers: { gateway: { ...doc.servers.gateway, host: hostOf(req) } } };
  }

  @Get('openapi.json')
  openApi(@Req() req: Request): unknown {
    return { ...protocolDocuments().openapi, servers: [{ url: `${req.protocol}://${hostOf(req)}` }] };
  }
}

function hostOf(req: Request): string {
  const host = req.headers.host ?? '';
  return /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost:3000';
}
