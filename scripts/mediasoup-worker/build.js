#!/usr/bin/env node
// Builds the mediasoup (3.12) worker against the system's libraries (Debian
// 12 packages) instead of the wrap subprojects its meson build downloads:
// the build packages are installed when missing (as root on Debian/Ubuntu),
// meson >= 1.1 comes from the Python package index into a private folder,
// and the worker's meson files are rewritten by use-system-libraries.js.
//
// Used by scripts/setup.js (which caches the result per machine) and by the
// image's worker stage, which copies only this folder and the lock file so
// that source edits never rebuild the worker:
//   node scripts/mediasoup-worker/build.js <mediasoup package folder> <output binary>
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const WORKER_BUILD_PACKAGES = [
  'g++', 'pkg-config', 'ninja-build', 'libssl-dev', 'libuv1-dev', 'libsrtp2-dev',
  'libusrsctp-dev', 'libabsl-dev', 'nlohmann-json3-dev',
];
const WORKER_PKG_CONFIG_NAMES = ['openssl', 'libuv', 'libsrtp2', 'usrsctp', 'absl_flat_hash_map', 'nlohmann_json'];

function defaultLog(msg) {
  process.stderr.write(`[mediasoup-worker] ${msg}\n`);
}

function missingWorkerLibraries() {
  const probe = spawnSync('pkg-config', ['--exists', ...WORKER_PKG_CONFIG_NAMES]);
  const tools = ['g++', 'ninja'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return probe.status !== 0 || probe.error || tools.length > 0;
}

function ensureWorkerBuildPackages(log) {
  if (!missingWorkerLibraries()) return;
  if (process.platform !== 'linux' || !fs.existsSync('/usr/bin/apt-get') || process.getuid?.() !== 0) {
    throw new Error(
      'building the mediasoup worker needs these Debian/Ubuntu packages (or their equivalents): ' +
        `${WORKER_BUILD_PACKAGES.join(' ')}. Install them (as root: apt-get install ${WORKER_BUILD_PACKAGES.join(' ')}) ` +
        'or set MEDIASOUP_WORKER_BIN to a built mediasoup-worker binary.',
    );
  }
  log(`installing the worker's build packages: ${WORKER_BUILD_PACKAGES.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...WORKER_BUILD_PACKAGES], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

// meson >= 1.1 (Debian 12 ships 1.0), installed from the Python package index
// into `cacheDir`, never into the system's Python.
function mesonCommand(cacheDir, log) {
  const dir = path.join(cacheDir, 'meson-1');
  const script = path.join(dir, 'bin', 'meson');
  if (!fs.existsSync(script)) {
    log('installing meson (>= 1.1) for the worker build');
    execFileSync('python3', ['-m', 'pip', 'install', '-q', '--no-user', '--target', dir, 'meson>=1.1,<2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { command: 'python3', args: [script], env: { ...process.env, PYTHONPATH: dir } };
}

/** Builds the worker of the mediasoup package in `pkgDir` into the file `destination`. */
function buildWorker(pkgDir, destination, { cacheDir = path.join(os.tmpdir(), 'mediasoup-worker-tools'), log = defaultLog } = {}) {
  const version = require(path.join(path.resolve(pkgDir), 'package.json')).version;
  ensureWorkerBuildPackages(log);
  const meson = mesonCommand(cacheDir, log);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `mediasoup-worker-${version}-`));
  try {
    const workerDir = path.join(work, 'worker');
    fs.cpSync(path.join(pkgDir, 'worker'), workerDir, { recursive: true, filter: (src) => !src.includes(`${path.sep}out${path.sep}`) });
    require('./use-system-libraries').rewrite(workerDir);
    const jobs = String(Math.max(1, os.cpus().length));
    log(`building mediasoup worker ${version} against the system's libraries (about 3 minutes, once per machine)`);
    execFileSync(meson.command, [...meson.args, 'setup', '--buildtype', 'release', '-Db_ndebug=true', 'build'], {
      cwd: workerDir, env: meson.env, stdio: ['ignore', 'ignore', 'inherit'],
    });
    execFileSync(meson.command, [...meson.args, 'compile', '-C', 'build', '-j', jobs, 'mediasoup-worker'], {
      cwd: workerDir, env: meson.env, stdio: ['ignore', 'ignore', 'inherit'],
    });
    fs.mkdirSync(path.dirname(path.resolve(destination)), { recursive: true });
    fs.copyFileSync(path.join(workerDir, 'build', 'mediasoup-worker'), destination);
    fs.chmodSync(destination, 0o755);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

module.exports = { buildWorker, WORKER_BUILD_PACKAGES };

if (require.main === module) {
  const [pkgDir, destination] = process.argv.slice(2);
  if (!pkgDir || !destination) {
    process.stderr.write('usage: node scripts/mediasoup-worker/build.js <mediasoup package folder> <output binary>\n');
    process.exit(2);
  }
  buildWorker(pkgDir, destination);
}
