import { expect, test } from 'bun:test'
import { TOMBSTONE } from '../rules.ts'
import { rowTimestampMaps } from './timestamp-rows.ts'

const rows = (...entries: [number, string, number][]) => entries.map((entry) => [...entry])

test('rows with the same ids and timestamps as the last read are answered by its map, built once', () => {
  const maps = rowTimestampMaps()
  const first = maps.of(1, rows([1, 'clients', 10], [TOMBSTONE, '', 5], [7, 'tabs', 20]))
  expect([...first]).toEqual([['clients', 10], ['tabs', 20]])
  expect(maps.of(1, rows([1, 'clients', 10], [TOMBSTONE, '', 5], [7, 'tabs', 20]))).toBe(first)
  // Another user's read is kept apart.
  expect(maps.of(2, rows([1, 'clients', 10], [TOMBSTONE, '', 5], [7, 'tabs', 20]))).not.toBe(first)
})

test('a changed timestamp, a row more or fewer, or another order gives a new map with the read values', () => {
  const maps = rowTimestampMaps()
  const first = maps.of(1, rows([1, 'clients', 10], [7, 'tabs', 20]))
  const changed = maps.of(1, rows([1, 'clients', 10], [7, 'tabs', 30]))
  expect(changed).not.toBe(first)
  expect([...changed]).toEqual([['clients', 10], ['tabs', 30]])
  const fewer = maps.of(1, rows([1, 'clients', 10]))
  expect([...fewer]).toEqual([['clients', 10]])
  const more = maps.of(1, rows([1, 'clients', 10], [4, 'history', 3]))
  expect([...more]).toEqual([['clients', 10], ['history', 3]])
  const reordered = maps.of(1, rows([4, 'history', 3], [1, 'clients', 10]))
  expect(reordered).not.toBe(more)
  expect(Object.fromEntries(reordered)).toEqual({ clients: 10, history: 3 })
  // A tombstone's timestamp counts too: it is part of what the read says.
  const tombstoned = maps.of(1, rows([4, 'history', 3], [1, 'clients', 10], [TOMBSTONE, '', 9]))
  expect(tombstoned).not.toBe(reordered)
  expect(Object.fromEntries(tombstoned)).toEqual({ clients: 10, history: 3 })
})
