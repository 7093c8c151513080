/** Tests run from TypeScript sources through ts-jest; worker-pool tests use the built dist/ (workers are plain JS). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
  setupFiles: ['<rootDir>/test/setup/sharedRealm.ts'],
  // Model-backed tests take seconds when the machine is idle, minutes when it is busy.
  testTimeout: 600000,
};
