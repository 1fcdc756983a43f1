import fs from 'node:fs';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import { DomainError } from '@app/contracts';

/** Where `npm run build:demo` (run by the set-up and the image build) writes the browser client. */
const BUILD_DIR_FROM_ROOT = path.join('dist', 'demo');

/**
 * The browser client (apps/demo) as built: its page and bundled script,
 * read once and kept in memory. The gateway does not build it; without a
 * build /demo answers NOT_FOUND saying how to make one.
 */
@Injectable()
export class DemoBundle {
  private readonly buildDir = locate(BUILD_DIR_FROM_ROOT, 'app.js');
  private readonly files = new Map<string, string>();

  script(): string {
    return this.read('app.js');
  }

  page(): string {
    return this.read('index.html');
  }

  private read(name: string): string {
    const known = this.files.get(name);
    if (known !== undefined) return known;
    if (!this.buildDir) throw new DomainError('NOT_FOUND', 'the browser client is not built: run `npm run build:demo`');
    const text = fs.readFileSync(path.join(this.buildDir, name), 'utf8');
    this.files.set(name, text);
    return text;
  }
}

/** A folder below the project root holding `marker`, found from this file both in the source tree and under dist/. */
function locate(fromRoot: string, marker: string): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, fromRoot);
    if (fs.existsSync(path.join(candidate, marker))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}
