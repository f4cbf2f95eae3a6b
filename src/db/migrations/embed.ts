import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** One drizzle-kit migration, split into statements at its `--> statement-breakpoint` markers. */
export interface EmbeddedMigration {
  tag: string
  /** drizzle-kit's journal timestamp; also what drizzle records as `created_at`. */
  when: number
  /** sha256 of the file, the value drizzle's migrator records. */
  hash: string
  statements: string[]
}

/**
 * Reads `drizzle/<folder>/` at bundle time. Imported `with { type: 'macro' }`, so the compiled
 * binary carries the migrations and never looks for files on disk.
 */
export function embeddedMigrations(folder: string): EmbeddedMigration[] {
  const root = join(import.meta.dir, '..', '..', '..', 'drizzle', folder)
  const journal = JSON.parse(readFileSync(join(root, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string; when: number }[]
  }
  return journal.entries.map(({ tag, when }) => {
    const text = readFileSync(join(root, `${tag}.sql`), 'utf8')
    return {
      tag,
      when,
      hash: createHash('sha256').update(text).digest('hex'),
      statements: text
        .split('--> statement-breakpoint')
        .map((statement) => statement.trim())
        .filter((statement) => statement !== ''),
    }
  })
}
