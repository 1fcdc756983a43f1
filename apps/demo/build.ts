import fs from 'node:fs';
import path from 'node:path';

/** The page's sources. */
export const DEMO_SOURCE_DIR = path.join(__dirname, 'src');
/** Where the built page and script go; the gateway serves them from there at /demo. */
export const DEMO_BUILD_DIR = path.join(__dirname, '..', '..', 'dist', 'demo');

/**
 * Bundles the browser client (the page's TypeScript with the SDK's browser
 * entry, socket.io-client and mediasoup-client) into one script beside its
 * page. esbuild is a build tool, so it is loaded only here.
 */
export async function buildDemo(outDir = DEMO_BUILD_DIR): Promise<string> {
  const esbuild = await import('esbuild');
  let script: string;
  try {
    const result = await esbuild.build({
      entryPoints: [path.join(DEMO_SOURCE_DIR, 'demo-app.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
    script = result.outputFiles[0].text;
  } finally {
    // esbuild's helper process would keep a test run or a script alive.
    await esbuild.stop();
  }
  fs.mkdirSync(outDir, { recursive: true });
  // Script first: a page is never served without the script it loads.
  fs.writeFileSync(path.join(outDir, 'app.js'), script);
  fs.copyFileSync(path.join(DEMO_SOURCE_DIR, 'index.html'), path.join(outDir, 'index.html'));
  return outDir;
}
