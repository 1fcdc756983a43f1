import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DemoBundle } from './demo-bundle';

/** Serves the built browser client (apps/demo): /demo (page) and /demo/app.js (bundled script). */
@Controller('demo')
export class DemoController {
  constructor(private readonly bundle: DemoBundle) {}

  @Get()
  page(@Res() res: Response): void {
    res.type('html').set('cache-control', 'no-store').send(this.bundle.page());
  }

  @Get('app.js')
  script(@Res() res: Response): void {
    res.type('js').set('cache-control', 'no-store').send(this.bundle.script());
  }
}
