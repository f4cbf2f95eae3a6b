import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/sqlite/tokenserver-schema.ts',
  out: './drizzle/sqlite-tokenserver',
})
