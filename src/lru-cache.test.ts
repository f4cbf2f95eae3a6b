import { describe, expect, test } from 'bun:test'
import { LruCache } from './lru-cache.ts'

describe('LruCache', () => {
  test('evicts the least recently used entry beyond its capacity', () => {
    const cache = new LruCache<string, number>(2)
    cache.set('a', 1)
    cache.set('b', 2)
    expect(cache.get('a')).toBe(1)
    cache.set('c', 3)
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBe(1)
    expect(cache.get('c')).toBe(3)
    expect(cache.size).toBe(2)
  })

  test('setting an existing key refreshes it instead of growing the cache', () => {
    const cache = new LruCache<string, number>(2)
    cache.set('a', 1)
    cache.set('b', 2)
    cache.set('a', 10)
    cache.set('c', 3)
    expect(cache.get('a')).toBe(10)
    expect(cache.get('b')).toBeUndefined()
  })

  test('delete and clear forget entries', () => {
    const cache = new LruCache<number, string>(4)
    cache.set(1, 'one')
    cache.set(2, 'two')
    cache.delete(1)
    expect(cache.get(1)).toBeUndefined()
    expect(cache.get(2)).toBe('two')
    cache.clear()
    expect(cache.size).toBe(0)
  })

  test('refuses a bound that would make it unbounded', () => {
    expect(() => new LruCache(Number.NaN)).toThrow(RangeError)
    expect(() => new LruCache(-1)).toThrow(RangeError)
  })
})
