import { describe, expect, test } from 'bun:test'
import { formatTimestamp, parseTimestamp } from './wire-timestamp.ts'

describe('sync timestamps', () => {
  test('format as seconds with exactly two decimals', () => {
    expect(formatTimestamp(0)).toBe('0.00')
    expect(formatTimestamp(1388635807410)).toBe('1388635807.41')
    expect(formatTimestamp(1388635807400)).toBe('1388635807.40')
    expect(formatTimestamp(1388635807050)).toBe('1388635807.05')
  })

  test('parse floats to milliseconds truncated to 10 ms', () => {
    expect(parseTimestamp('1388635807.41')).toBe(1388635807410)
    expect(parseTimestamp('1388635807.419')).toBe(1388635807410)
    expect(parseTimestamp('1e3')).toBe(1_000_000)
    expect(parseTimestamp('0')).toBe(0)
  })

  test('reject what is not a non-negative number within u64 milliseconds', () => {
    for (const text of ['', 'abc', '-3', 'NaN', 'inf', '1.2.3', '1e17']) expect(parseTimestamp(text)).toBeUndefined()
  })

  test('a formatted timestamp parses back to itself', () => {
    for (const ms of [0, 10, 1388635807410, 1795758008400]) expect(parseTimestamp(formatTimestamp(ms))).toBe(ms)
  })
})
