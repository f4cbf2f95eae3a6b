import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/postgres/tokenserver-schema.ts',
  out: './drizzle/postgres-tokenserver',
})
