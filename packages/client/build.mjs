// Builds the SDK package from libs/client/src into packages/client/dist:
//   index / node / browser entries, each as ESM (.mjs) and CommonJS (.cjs);
//   declarations (tsc) with the protocol types of libs/contracts emitted beside
//   them and every import made relative, so a consumer needs no monorepo aliases.
// Usage: node packages/client/build.mjs [--js-only]   (--js-only: bundles without declarations)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const packageDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(packageDir, '../..');
const srcDir = path.join(root, 'libs/client/src');
const dist = path.join(packageDir, 'dist');
const jsOnly = process.argv.includes('--js-only');
const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));

const ENTRIES = [
  { name: 'index', source: 'core.ts', platform: 'neutral' },
  { name: 'node', source: 'node.ts', platform: 'node' },
  { name: 'browser', source: 'browser.ts', platform: 'browser' },
];
const FORMATS = [
  { format: 'esm', ext: 'mjs' },
  { format: 'cjs', ext: 'cjs' },
];
// Declared dependencies (and Node's own modules) stay imports; the SDK's sources are bundled.
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), 'node:*'];

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });

// 1. JavaScript. The core's modules are the `index` bundle; the node and browser
//    bundles import them from it (one SocialClient class, one ClientError, whichever
//    entry a program loads first).
const coreBuild = await esbuild.build({
  entryPoints: [path.join(srcDir, 'core.ts')],
  bundle: true,
  write: false,
  metafile: true,
  format: 'esm',
  platform: 'neutral',
  external,
  logLevel: 'silent',
});
const coreModules = new Set(Object.keys(coreBuild.metafile.inputs).map((input) => path.resolve(root, input)));

function coreAsImport(ext) {
  return {
    name: 'core-as-import',
    setup(build) {
      build.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        const base = path.resolve(args.resolveDir, args.path);
        const file = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => coreModules.has(candidate));
        return file ? { path: `./index.${ext}`, external: true } : undefined;
      });
    },
  };
}

// ESM has no __dirname; the node bundle finds its clip (dist/fixtures) beside itself.
const esmDirname =
  "import { fileURLToPath as __sdkFileURLToPath } from 'node:url';\n" +
  "import { dirname as __sdkDirname } from 'node:path';\n" +
  'const __dirname = __sdkDirname(__sdkFileURLToPath(import.meta.url));';

for (const entry of ENTRIES) {
  for (const { format, ext } of FORMATS) {
    await esbuild.build({
      entryPoints: [path.join(srcDir, entry.source)],
      outfile: path.join(dist, `${entry.name}.${ext}`),
      bundle: true,
      format,
      platform: entry.platform,
      target: 'es2022',
      mainFields: ['module', 'main'],
      external,
      plugins: entry.name === 'index' ? [] : [coreAsImport(ext)],
      banner: entry.name === 'node' && format === 'esm' ? { js: esmDirname } : undefined,
      sourcemap: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
  }
}
fs.mkdirSync(path.join(dist, 'fixtures'));
fs.copyFileSync(
  path.join(root, 'libs/client/fixtures/testsrc-320x240-15fps.ivf'),
  path.join(dist, 'fixtures/testsrc-320x240-15fps.ivf'),
);

if (jsOnly) {
  console.log(`built ${pkg.name}@${pkg.version} (JavaScript only) into ${path.relative(root, dist)}`);
  process.exit(0);
}

// 2. Declarations: libs/client and libs/contracts, laid out as types/client/src/… and types/contracts/src/….
const typesDir = path.join(dist, 'types');
const tsc = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(packageDir, 'tsconfig.types.json')],
  { cwd: root, stdio: 'inherit' },
);
if (tsc.status !== 0) {
  console.error('tsc failed: declarations not written');
  process.exit(1);
}

const ALIASES = { '@app/contracts': path.join(typesDir, 'contracts/src/index') };

/** A specifier made loadable without aliases and under Node's ESM rules (explicit `.js`). */
function rewriteSpecifier(file, specifier) {
  const dir = path.dirname(file);
  let target;
  if (ALIASES[specifier]) target = ALIASES[specifier];
  else if (specifier.startsWith('.')) target = path.resolve(dir, specifier);
  else if (specifier.startsWith('@app/')) throw new Error(`${path.relative(dist, file)}: unknown alias ${specifier}`);
  else return specifier;
  const asFile = fs.existsSync(`${target}.d.ts`);
  const asDir = !asFile && fs.existsSync(path.join(target, 'index.d.ts'));
  if (!asFile && !asDir) throw new Error(`${path.relative(dist, file)}: ${specifier} has no declaration`);
  let relative = path.relative(dir, asFile ? target : path.join(target, 'index')).split(path.sep).join('/');
  if (!relative.startsWith('.')) relative = `./${relative}`;
  return `${relative}.js`;
}

const SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\2/g;
function rewriteTree(dir) {
  for (const item of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, item.name);
    if (item.isDirectory()) rewriteTree(full);
    else if (item.name.endsWith('.d.ts')) {
      const text = fs.readFileSync(full, 'utf8');
      const next = text.replace(SPECIFIER, (_all, lead, quote, spec) => `${lead}${quote}${rewriteSpecifier(full, spec)}${quote}`);
      fs.writeFileSync(full, next);
    }
  }
}
rewriteTree(typesDir);

// The same declarations for `require`: a folder whose package.json says CommonJS.
const cjsTypesDir = path.join(dist, 'types-cjs');
fs.cpSync(typesDir, cjsTypesDir, { recursive: true });
fs.writeFileSync(path.join(cjsTypesDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

console.log(`built ${pkg.name}@${pkg.version} into ${path.relative(root, dist)}`);
