// Two tiers, both run by `npm test` (see CONTRIBUTING.md): `npm run test:unit` runs the tests that
// need no external tool, with the coverage gate below; `integration` runs helm, nginx, the registry...
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
    // No build for the unit tier: ts-jest compiles what the tests import, file by file, and the CPU
    // pool's worker thread loads its TypeScript through sucrase (src/content/cpu-pool.ts, startWorker).
    { ...shared, displayName: 'unit', testMatch: files(tiers.unit) },
    // build/ is compiled once, before the suites: integration tests start the CLI as a separate process.
    {
      ...shared,
      displayName: 'integration',
      testMatch: files(tiers.integration),
      globalSetup: '<rootDir>/test/global-setup.js',
    },
  ],
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  // The core's coverage gate, checked whenever coverage is collected (`npm run test:unit` passes
  // --coverage; plain `jest` and `npm test` do not): the unit tier must run at least 70% of the lines
  // of each folder. Code run inside the CPU pool's worker threads is not counted (istanbul instruments
  // jest's module registry only), so test/content.test.ts also runs the worker's tasks in-process.
  collectCoverageFrom: ['src/pipeline/**/*.ts', 'src/ociview/**/*.ts', 'src/content/**/*.ts'],
  coverageThreshold: {
    './src/pipeline/': { lines: 70 },
    './src/ociview/': { lines: 70 },
    './src/content/': { lines: 70 },
  },
  coverageReporters: ['text-summary', 'text'],
  testTimeout: 120000,
  maxWorkers: 2,
};
