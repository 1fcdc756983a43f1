/** Long reliability runs (`npm run soak`): the *.soak.e2e-spec.ts files that `npm test` skips. */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.soak.e2e-spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 30 * 60_000,
};
