import { describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { parseDatabaseUrl } from './url.ts'

describe('SQLite database URLs', () => {
  test('absolute paths are kept as written, relative ones resolved from cwd like node:path does', () => {
    const cwd = '/srv/sync'
    const relative = ['s.db', './s.db', 'data//s.db', 'data/./s.db', '../s.db', '../../../../s.db', 'a/b/../s.db', 'dir/']
    for (const path of relative) {
      expect(parseDatabaseUrl(`sqlite:///${path}`, cwd)).toEqual({ engine: 'sqlite', path: resolve(cwd, path) })
      expect(parseDatabaseUrl(`sqlite:${path}`, cwd)).toEqual({ engine: 'sqlite', path: resolve(cwd, path) })
    }
    expect(parseDatabaseUrl('sqlite:////var/lib//sync.db', cwd)).toEqual({ engine: 'sqlite', path: '/var/lib//sync.db' })
    expect(parseDatabaseUrl('sqlite:///s.db', '/')).toEqual({ engine: 'sqlite', path: '/s.db' })
  })

  test('in-memory forms and a missing path', () => {
    for (const url of ['sqlite::memory:', 'sqlite://:memory:', 'sqlite:///:memory:']) {
      expect(parseDatabaseUrl(url)).toEqual({ engine: 'sqlite', path: ':memory:' })
    }
    expect(() => parseDatabaseUrl('sqlite:///')).toThrow('no path')
  })
})
