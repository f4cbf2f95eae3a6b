import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStorage } from '../../src/db/open.ts'

describe('opening a SQLite database', () => {
  test('creates the directories the file goes in', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'syncserver-open-')), 'not', 'yet', 'there', 'sync.db')
    const storage = await openStorage(`sqlite:///${path}`, { runMigrations: true })
    try {
      expect(await storage.check()).toBe(true)
      expect(existsSync(path)).toBe(true)
    } finally {
      await storage.close()
    }
  })

  test('a path that cannot be created is an error, not a silent in-memory database', async () => {
    const blocker = join(mkdtempSync(join(tmpdir(), 'syncserver-open-')), 'file')
    await Bun.write(blocker, 'not a directory')
    await expect(openStorage(`sqlite:///${join(blocker, 'sync.db')}`, { runMigrations: true })).rejects.toThrow()
  })
})
