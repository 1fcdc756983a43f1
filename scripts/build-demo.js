#!/usr/bin/env node
// Builds the browser client (apps/demo) into dist/demo, which the gateway serves at /demo.
// Run by the set-up when the demo's sources changed, by `npm run build` and by the image build.
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..');
require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
require('tsconfig-paths').register({ baseUrl: root, paths: require(path.join(root, 'tsconfig.json')).compilerOptions.paths });
const { buildDemo } = require('../apps/demo/build');

buildDemo().then(
  (dir) => process.stderr.write(`[build-demo] wrote ${path.relative(process.cwd(), dir) || '.'}\n`),
  (err) => {
    process.stderr.write(`[build-demo] ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
