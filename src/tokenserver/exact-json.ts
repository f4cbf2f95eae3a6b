/**
 * JSON.parse that reads every integer literal as a `bigint`, so 64-bit values such as the
 * retired generation 9223372036854775807 keep all their digits (tokenserver.md §4.2).
 * Fractions and exponents stay `number`s.
 * @throws SyntaxError when the text is not JSON.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined && INTEGER_LITERAL.test(context.source)
      ? BigInt(context.source)
      : value,
  )
}

const INTEGER_LITERAL = /^-?\d+$/

/** An exact signed 64-bit integer from a value read by {@link parseJsonExact}; undefined otherwise. */
export function asInt64(value: unknown): bigint | undefined {
  if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) return undefined
  return value
}

const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
