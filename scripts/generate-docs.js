#!/usr/bin/env node
// Writes docs/asyncapi.json and docs/openapi.json from the protocol catalog
// (libs/contracts). `npm run docs` after changing an event, a route or a
// schema, then commit docs/. With --check: writes nothing, exits 1 when a
// committed file is stale.
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..');
require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
require('tsconfig-paths').register({ baseUrl: root, paths: require(path.join(root, 'tsconfig.json')).compilerOptions.paths });
const docs = require('../apps/gateway/src/docs/protocol-documents');

if (process.argv.includes('--check')) {
  const stale = docs.staleDocumentFiles(root);
  if (stale.length > 0) {
    process.stderr.write(`[docs] stale: ${stale.join(', ')}; run \`${docs.DOCS_COMMAND}\` and commit them\n`);
    process.exit(1);
  }
  process.stderr.write('[docs] docs/asyncapi.json and docs/openapi.json are current\n');
} else {
  const written = docs.writeDocumentFiles(root);
  process.stderr.write(written.length > 0 ? `[docs] wrote ${written.join(', ')}\n` : '[docs] already current\n');
}
