#!/usr/bin/env node
// Bundles the browser client into dist/demo (page and script) ahead of time,
// for images that run without esbuild and mediasoup-client (dev dependencies).
'use strict';
require('ts-node').register({ transpileOnly: true, project: require('node:path').join(__dirname, '..', 'tsconfig.json') });
const path = require('node:path');
const { writePrebuiltDemo } = require('../apps/gateway/src/demo/demo-bundle');

writePrebuiltDemo(path.resolve(__dirname, '..')).then(
  (dir) => process.stderr.write(`[build-demo] wrote ${path.relative(process.cwd(), dir) || '.'}\n`),
  (err) => {
    process.stderr.write(`[build-demo] ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
