import { expect, test } from 'bun:test'
import { ID_POOL, recordsBody } from '../../bench/mix.ts'
import { recordId, seededRandom } from '../../bench/records.ts'

interface UploadedRecord {
  id: string
  payload: string
}

const POOL_IDS = Array.from({ length: ID_POOL }, (_, n) => recordId(n))

const bodies = (count: number, posts: number): UploadedRecord[][] => {
  const random = seededRandom(7)
  return Array.from({ length: posts }, () => JSON.parse(recordsBody(random, count)) as UploadedRecord[])
}

test('a POST body holds `count` records with consecutive ids from the pool and encrypted-looking payloads', () => {
  for (const records of bodies(100, 50)) {
    expect(records).toHaveLength(100)
    const first = POOL_IDS.indexOf(records[0]?.id ?? '')
    expect(first).toBeGreaterThanOrEqual(0)
    expect(records.map((record) => record.id)).toEqual(POOL_IDS.slice(first, first + 100))
    for (const record of records) expect(Object.keys(JSON.parse(record.payload))).toEqual(['ciphertext', 'IV', 'hmac'])
  }
})

test('payload sizes follow the load test: at least 300 bytes, mean near 450, a tail past 1000, varied within a body', () => {
  const lengths = bodies(100, 200).flatMap((records) => records.map((record) => record.payload.length))
  const mean = lengths.reduce((sum, length) => sum + length, 0) / lengths.length
  expect(Math.min(...lengths)).toBeGreaterThanOrEqual(300)
  expect(mean).toBeGreaterThan(420)
  expect(mean).toBeLessThan(480)
  expect(lengths.filter((length) => length > 1000).length / lengths.length).toBeGreaterThan(0.01)
  const firstBody = lengths.slice(0, 100)
  expect(new Set(firstBody).size).toBeGreaterThan(50)
})

test('bodies differ from one POST to the next: where their windows start and which payloads they carry', () => {
  const posts = bodies(40, 20)
  expect(new Set(posts.map((records) => records[0]?.id)).size).toBeGreaterThan(10)
  expect(new Set(posts.map((records) => records.map((record) => record.payload).join())).size).toBe(20)
})
