// Two tiers, both run by `npm test` (see CONTRIBUTING.md): `npx jest --selectProjects unit` runs the
// tests that need no external tool in seconds; `integration` runs helm, nginx, the registry...
const tiers = require('./test/tiers');

const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  snapshotResolver: '<rootDir>/test/snapshot-resolver.js',
};

const files = (names) => names.map((name) => `<rootDir>/test/${name}.test.ts`);

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    // build/ is compiled once, before the suites: integration tests start the CLI as a separate
    // process, and the CPU pool (gzip, Wasm checks) runs the compiled worker in both tiers.
    { ...shared, displayName: 'unit', testMatch: files(tiers.unit), globalSetup: '<rootDir>/test/global-setup.js' },
    {
      ...shared,
      displayName: 'integration',
      testMatch: files(tiers.integration),
      globalSetup: '<rootDir>/test/global-setup.js',
    },
  ],
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  testTimeout: 120000,
  maxWorkers: 2,
};
