/**
 * jest on the TypeScript sources as ES modules (run through `node --experimental-vm-modules`,
 * see scripts/test.sh): @swc/jest strips types only, `tsc --noEmit` is the type check.
 * Each file runs in a worker of its own module registry; integration files start their own moto.
 */
export default {
  testEnvironment: '<rootDir>/test/support/node-environment.js',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } },
    ],
  },
  // The permissions proof reads the ledger the other files write: scripts/test.sh runs it after them.
  testMatch: ['<rootDir>/test/{unit,infra,integration,e2e}/**/*.test.ts'],
  maxWorkers: 2,
  testTimeout: 600_000,
};
