import { expect, test } from 'bun:test'
import { LastTimestampMaps } from './last-timestamp-maps.ts'

/** Reads as "name=millis" lists, compared as text. */
const textMaps = () =>
  new LastTimestampMaps<string>({
    unchanged: (kept, read) => kept === read,
    toMap: (read) => new Map(read.split(',').map((pair) => pair.split('=') as [string, string]).map(([name, at]) => [name, Number(at)])),
  })

test('an unchanged read hands back the kept map; a changed one, or another user, a new one', () => {
  const maps = textMaps()
  const first = maps.of(1, 'bookmarks=10,tabs=20')
  expect([...first]).toEqual([
    ['bookmarks', 10],
    ['tabs', 20],
  ])
  expect(maps.of(1, 'bookmarks=10,tabs=20')).toBe(first)
  const changed = maps.of(1, 'bookmarks=30,tabs=20')
  expect(changed.get('bookmarks')).toBe(30)
  expect(maps.of(1, 'bookmarks=10,tabs=20')).not.toBe(first)
  expect(maps.of(2, 'bookmarks=30,tabs=20')).not.toBe(changed)
})

test('a bounded number of users is kept: the least recently read user is dropped first', () => {
  const maps = textMaps()
  const first = maps.of(0, 'bookmarks=1')
  const second = maps.of(1, 'bookmarks=1')
  for (let uid = 2; uid <= 10_000; uid++) maps.of(uid, 'bookmarks=1')
  maps.of(1, 'bookmarks=1')
  maps.of(10_001, 'bookmarks=1')
  expect(maps.of(1, 'bookmarks=1')).toBe(second)
  expect(maps.of(0, 'bookmarks=1')).not.toBe(first)
})
