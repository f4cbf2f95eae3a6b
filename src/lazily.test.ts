import { describe, expect, test } from 'bun:test'
import { lazily } from './lazily.ts'

describe('lazily', () => {
  test('builds a property on its first read only, and keeps it', () => {
    const built: string[] = []
    const record = lazily({
      a: () => {
        built.push('a')
        return { name: 'a' }
      },
      b: () => {
        built.push('b')
        return 2
      },
    })
    expect(built).toEqual([])
    const first = record.a
    expect(record.a).toBe(first)
    expect(built).toEqual(['a'])
    expect(record.b).toBe(2)
    expect(built).toEqual(['a', 'b'])
    expect(Object.keys(record).sort()).toEqual(['a', 'b'])
  })

  test('a builder that throws is tried again on the next read', () => {
    let attempts = 0
    const record = lazily({
      flaky: () => {
        attempts++
        if (attempts === 1) throw new Error('not yet')
        return 'ok'
      },
    })
    expect(() => record.flaky).toThrow('not yet')
    expect(record.flaky).toBe('ok')
  })
})
