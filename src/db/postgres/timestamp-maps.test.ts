import { expect, test } from 'bun:test'
import { jsonTimestampMaps } from './timestamp-maps.ts'

test('the same text read again hands back the same map; other text, or another user, a new one', () => {
  const maps = jsonTimestampMaps()
  const first = maps.of(1, '{"bookmarks" : 1796605056810, "__proto__" : 20}')
  expect([...first]).toEqual([
    ['bookmarks', 1796605056810],
    ['__proto__', 20],
  ])
  expect(maps.of(1, '{"bookmarks" : 1796605056810, "__proto__" : 20}')).toBe(first)
  const changed = maps.of(1, '{"bookmarks" : 1796605056820, "__proto__" : 20}')
  expect(changed).not.toBe(first)
  expect(changed.get('bookmarks')).toBe(1796605056820)
  expect(maps.of(2, '{"bookmarks" : 1796605056820, "__proto__" : 20}')).not.toBe(changed)
})

test('no collections (SQL NULL) is an empty map', () => {
  expect(jsonTimestampMaps().of(1, null).size).toBe(0)
})
