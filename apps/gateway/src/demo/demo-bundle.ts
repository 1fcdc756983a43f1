import fs from 'node:fs';
import path from 'node:path';
import { Injectable } from '@nestjs/common';

const WEB_DIR_FROM_ROOT = path.join('apps', 'gateway', 'src', 'demo', 'web');

/**
 * The browser client's script: the page source (TypeScript) bundled with
 * mediasoup-client and socket.io-client by esbuild on first request, then
 * kept in memory. Nothing built is committed; a fresh clone only needs
 * `npm install`.
 */
@Injectable()
export class DemoBundle {
  private static build?: Promise<string>;
  readonly webDir = locateWebDir();

  script(): Promise<string> {
    DemoBundle.build ??= this.bundle().catch((err) => {
      DemoBundle.build = undefined; // let a later request try again
      throw err;
    });
    return DemoBundle.build;
  }

  page(): string {
    return fs.readFileSync(path.join(this.webDir, 'index.html'), 'utf8');
  }

  private async bundle(): Promise<string> {
    // esbuild is a build tool: loaded only when the demo is first asked for.
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(this.webDir, 'demo-app.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
    return result.outputFiles[0].text;
  }
}

/** The page source, found from this file both in the source tree and in a tsc build under dist/. */
function locateWebDir(): string {
  const beside = path.join(__dirname, 'web');
  if (fs.existsSync(path.join(beside, 'index.html'))) return beside;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, WEB_DIR_FROM_ROOT);
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    if (path.dirname(dir) === dir) return beside;
  }
}
