import { describe, expect, test } from 'bun:test'
import type { StoredBso } from '../copy-types.ts'
import { bsoCost, commitGroups, COMMIT_LIMITS } from './copy.ts'

/** Spanner's own limits per commit (spanner.md §4.7); the copy must stay well under them. */
const SPANNER_MAX_MUTATIONS = 80_000
const SPANNER_MAX_BYTES = 100_000_000

const record = (n: number, payload = 'x'.repeat(300)): StoredBso => ({ id: `r${n}`, sortindex: n, payload, modified: 1_700_000_000_000, expiry: 3_800_000_000_000 })

const total = (group: StoredBso[], field: 'mutations' | 'bytes') => group.reduce((sum, row) => sum + bsoCost(row)[field], 0)

describe('Spanner copy commit sizing', () => {
  test('the limits are well under what Spanner accepts', () => {
    expect(COMMIT_LIMITS.mutations).toBeLessThanOrEqual(SPANNER_MAX_MUTATIONS / 2)
    expect(COMMIT_LIMITS.bytes).toBeLessThanOrEqual(SPANNER_MAX_BYTES / 2)
  })

  test('a record counts one mutation per column written (all nine of bsos)', () => {
    expect(bsoCost(record(1)).mutations).toBe(9)
  })

  test('10,000 small records (90,000 mutations, over Spanner’s limit in one commit) split into commits under the limit, in order, none lost', () => {
    const rows = Array.from({ length: 10_000 }, (_, n) => record(n))
    const groups = commitGroups(rows, bsoCost)
    expect(groups.length).toBe(Math.ceil((10_000 * 9) / COMMIT_LIMITS.mutations))
    for (const group of groups) expect(total(group, 'mutations')).toBeLessThanOrEqual(COMMIT_LIMITS.mutations)
    expect(groups.flat()).toEqual(rows)
  })

  test('large payloads split by bytes before mutations', () => {
    const rows = Array.from({ length: 40 }, (_, n) => record(n, 'é'.repeat(1_000_000)))
    const groups = commitGroups(rows, bsoCost)
    for (const group of groups) expect(total(group, 'bytes')).toBeLessThanOrEqual(COMMIT_LIMITS.bytes)
    expect(groups.length).toBeGreaterThan(1)
    expect(groups.flat()).toEqual(rows)
  })

  test('a record larger than the byte limit goes alone; nothing is empty', () => {
    const huge = record(0, 'x'.repeat(COMMIT_LIMITS.bytes + 1))
    const groups = commitGroups([record(1), huge, record(2)], bsoCost)
    expect(groups.map((group) => group.map((row) => row.id))).toEqual([['r1'], ['r0'], ['r2']])
    expect(commitGroups([], bsoCost)).toEqual([])
  })
})
