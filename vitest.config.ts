import { defineConfig } from 'vitest/config';

// The behavioural suite runs twice: on PGlite and on a real PostgreSQL (test/helpers/global-setup.ts
// starts a throw-away one when DATABASE_URL is not set).
const shared = {
  include: ['test/**/*.test.ts'],
  globalSetup: ['test/helpers/global-setup.ts'],
  // One migrated PGlite per worker, kept across its test files; tests isolate by fresh users.
  isolate: false,
  testTimeout: 30_000,
  hookTimeout: 180_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      { test: { ...shared, name: 'pglite', env: { TEST_DB: 'pglite' } } },
      { test: { ...shared, name: 'postgres', env: { TEST_DB: 'postgres' } } },
    ],
  },
});
