import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'mysql',
  schema: './src/db/mysql/tokenserver-schema.ts',
  out: './drizzle/mysql-tokenserver',
})
