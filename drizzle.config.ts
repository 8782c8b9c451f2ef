import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate` writes the versioned SQL migrations in ./drizzle from the schema.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
