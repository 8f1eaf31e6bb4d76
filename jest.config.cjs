// One jest project per package plus the cross-package suite in tests/.
// TypeScript goes through @swc/jest to CommonJS (types are checked by `tsc`,
// see tsconfig.tests.json); `@strata/*` maps to each package's source entry.
const packages = ['parser', 'cache', 'registry', 'builder', 'cli'];

const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];

const common = {
  transform: { '^.+\\.(t|j|mj)s$': swc },
  // p-limit and yocto-queue ship ESM only: transform them too.
  transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/[^/]+/node_modules/)?(p-limit|yocto-queue)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  moduleNameMapper: {
    '^@strata/([a-z]+)$': '<rootDir>/../../packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

module.exports = {
  reporters: ['default', '<rootDir>/tests/support/summary-reporter.cjs'],
  // Two cores here; several suites spend their time waiting on child processes.
  maxWorkers: 2,
  // Many suites run real containers, registries and emulated arm64 steps on a
  // loaded 2-core machine; a hung test still fails, after two minutes.
  testTimeout: 120_000,
  projects: [
    ...packages.map((name) => ({
      ...common,
      displayName: name,
      rootDir: `packages/${name}`,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
    })),
    {
      ...common,
      displayName: 'tests',
      rootDir: 'tests',
      moduleNameMapper: {
        '^@strata/([a-z]+)$': '<rootDir>/../packages/$1/src/index.ts',
        '^(\\.{1,2}/.*)\\.js$': '$1',
      },
      testMatch: ['<rootDir>/**/*.test.ts'],
    },
  ],
};
