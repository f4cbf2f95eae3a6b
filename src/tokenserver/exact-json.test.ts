import { describe, expect, test } from 'bun:test'
import { asInt64, parseJsonExact } from './exact-json.ts'

describe('parseJsonExact', () => {
  test('reads integers as bigints without rounding', () => {
    expect(parseJsonExact('{"generation":9223372036854775807}')).toEqual({ generation: 9_223_372_036_854_775_807n })
  })

  test('keeps fractions and exponents as numbers', () => {
    expect(parseJsonExact('[1.5, 2e3, -7]')).toEqual([1.5, 2000, -7n])
  })

  test('throws on text that is not JSON', () => {
    expect(() => parseJsonExact('{"user":')).toThrow(SyntaxError)
  })
})

describe('asInt64', () => {
  test('accepts the signed 64-bit range only', () => {
    expect(asInt64(9_223_372_036_854_775_807n)).toBe(9_223_372_036_854_775_807n)
    expect(asInt64(9_223_372_036_854_775_808n)).toBeUndefined()
    expect(asInt64(-9_223_372_036_854_775_808n)).toBe(-9_223_372_036_854_775_808n)
    expect(asInt64(12)).toBeUndefined()
  })
})
