import { expect, test } from 'bun:test'
import { sameEntryTimestampMaps } from './timestamp-rows.ts'

test('a map with the same entries as the last one is answered by the last one', () => {
  const maps = sameEntryTimestampMaps()
  const first = maps.of(1, new Map([['bookmarks', 10], ['tabs', 20]]))
  expect(maps.of(1, new Map([['tabs', 20], ['bookmarks', 10]]))).toBe(first)
  const changed = new Map([['bookmarks', 10], ['tabs', 30]])
  expect(maps.of(1, changed)).toBe(changed)
  const fewer = new Map([['bookmarks', 10]])
  expect(maps.of(1, fewer)).toBe(fewer)
  const other = new Map([['tabs', 20], ['forms', 10]])
  expect(maps.of(1, new Map([['tabs', 20], ['bookmarks', 10]]))).not.toBe(first)
  expect(maps.of(1, other)).toBe(other)
  expect(maps.of(1, new Map([['tabs', 20], ['bookmarks', 10]]))).not.toBe(other)
})
