import fs from 'node:fs';
import path from 'node:path';
import { Injectable } from '@nestjs/common';

const WEB_DIR_FROM_ROOT = path.join('apps', 'gateway', 'src', 'demo', 'web');
/** Where `npm run build:demo` (and the image build) writes the page and its bundled script. */
const PREBUILT_DIR_FROM_ROOT = path.join('dist', 'demo');

/**
 * The browser client: the page and its script (TypeScript bundled with
 * mediasoup-client and socket.io-client by esbuild). Where esbuild is
 * installed (development) the script is bundled from source on first
 * request, so an edit shows on the next start; where it is not (an image with
 * only runtime dependencies) the copy built ahead by `npm run build:demo` is
 * served. Nothing built is committed.
 */
@Injectable()
export class DemoBundle {
  private static build?: Promise<string>;
  private readonly prebuiltDir = bundlerInstalled() ? undefined : locate(PREBUILT_DIR_FROM_ROOT, 'app.js');
  readonly webDir = this.prebuiltDir ?? locate(WEB_DIR_FROM_ROOT, 'index.html') ?? path.join(__dirname, 'web');

  script(): Promise<string> {
    DemoBundle.build ??= this.load().catch((err) => {
      DemoBundle.build = undefined; // let a later request try again
      throw err;
    });
    return DemoBundle.build;
  }

  page(): string {
    return fs.readFileSync(path.join(this.webDir, 'index.html'), 'utf8');
  }

  private async load(): Promise<string> {
    if (this.prebuiltDir) return fs.promises.readFile(path.join(this.prebuiltDir, 'app.js'), 'utf8');
    return bundleDemoScript(this.webDir);
  }
}

/** esbuild is a build tool: loaded only when the demo is first asked for (or built ahead). */
export async function bundleDemoScript(webDir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(webDir, 'demo-app.ts')],
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

/** Builds the page and script ahead into dist/demo, for a runtime without esbuild. */
export async function writePrebuiltDemo(projectRoot: string): Promise<string> {
  const webDir = path.join(projectRoot, WEB_DIR_FROM_ROOT);
  const outDir = path.join(projectRoot, PREBUILT_DIR_FROM_ROOT);
  fs.mkdirSync(outDir, { recursive: true });
  fs.copyFileSync(path.join(webDir, 'index.html'), path.join(outDir, 'index.html'));
  fs.writeFileSync(path.join(outDir, 'app.js'), await bundleDemoScript(webDir));
  return outDir;
}

function bundlerInstalled(): boolean {
  try {
    require.resolve('esbuild');
    return true;
  } catch {
    return false;
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
