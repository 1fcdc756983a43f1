#!/usr/bin/env node
// `npm run sim -- [options]`: the set-up, the simulator compiled when its
// sources changed, then the simulator with the given options; its exit code
// is the simulator's. Pointed at a running server (--url) it starts no media
// of its own, so no media worker is built. A set-up that fails exits 3 (the
// simulation could not run), like a crash of the simulator.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** The set-up's arguments for a simulation run with `simArgs`. */
function setupArguments(simArgs) {
  const remote = simArgs.some((arg) => arg === '--url' || arg.startsWith('--url='));
  return ['--app', 'sim', ...(remote ? ['--no-media-worker'] : [])];
}

function main(simArgs) {
  const setup = spawnSync(process.execPath, [path.join(__dirname, 'setup.js'), ...setupArguments(simArgs)], { cwd: root, stdio: 'inherit' });
  if (setup.status !== 0) process.exit(3);
  const sim = spawn(process.execPath, [path.join(root, 'dist', 'apps', 'sim', 'apps', 'sim', 'src', 'main.js'), ...simArgs], {
    cwd: root,
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => sim.kill(signal));
  sim.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 3);
    }
  });
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { setupArguments };
