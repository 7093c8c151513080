/** Tests run from TypeScript sources through ts-jest; worker-pool tests use the built dist/ (workers are plain JS). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
  setupFiles: ['<rootDir>/test/setup/sharedRealm.ts'],
  // A loud line at the end naming the tests skipped for a missing Redis, Chromium or root (test/setup/requires.ts).
  reporters: ['default', '<rootDir>/test/setup/skipReporter.js'],
  // One temp root per run, removed at the end (test/setup/tmpRoot.ts).
  globalSetup: '<rootDir>/test/setup/globalSetup.ts',
  globalTeardown: '<rootDir>/test/setup/globalTeardown.ts',
  // Model-backed tests take seconds when the machine is idle, minutes when it is busy.
  testTimeout: 600000,
};
