/** Unit, integration (real PostgreSQL) and end-to-end (real gateway, real mediasoup) tests. */
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.json');

// Specs read metrics by their short names (`socket_connections`); the
// exported prefix (METRICS_PREFIX, `smb_` by default) has its own spec
// (libs/observability, test/e2e/tracing.e2e-spec.ts). Gateways the specs
// spawn inherit this.
process.env.METRICS_PREFIX ??= '';

module.exports = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '\\.soak\\.'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
