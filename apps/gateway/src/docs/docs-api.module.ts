import { Module } from '@nestjs/common';
import { DocsController } from './docs.controller';

/** /docs/asyncapi.json and /docs/openapi.json. */
@Module({ controllers: [DocsController] })
export class DocsApiModule {}
