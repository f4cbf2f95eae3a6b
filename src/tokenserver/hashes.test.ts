import { describe, expect, test } from 'bun:test'
import { metricsHashes } from './hashes.ts'

describe('metricsHashes', () => {
  // Published values of the reference's own extractor test (empty secret, fxa uid "test123").
  test('matches the reference for a known uid', () => {
    const hashes = metricsHashes('test123', '')
    expect(hashes.hashedFxaUid).toBe('4d00ecae64b98dd7dc7dea68d0dd615d')
    expect(hashes.hashedDeviceId).toBe('3a41cccbdd666ebc4199f1f9d1249d44')
  })

  test('the short hash is the first half of the full one', () => {
    const hashes = metricsHashes('0123456789abcdef0123456789abcdef', 'secret0')
    expect(hashes.fullHashedFxaUid).toHaveLength(64)
    expect(hashes.fullHashedFxaUid.startsWith(hashes.hashedFxaUid)).toBe(true)
  })
})
