/**
 * Query parameters as `@google-cloud/spanner` takes them: a value and its Spanner type. INT64
 * and TIMESTAMP values are passed as the strings Spanner's wire format carries, so no precision
 * is lost; NULL is null; a struct is the list of its field values.
 */
type ScalarType = 'string' | 'int64' | 'timestamp'
export type SpannerType = ScalarType | { type: 'array'; child: ScalarType | { type: 'struct'; fields: { name: string; type: ScalarType }[] } }

type Value = string | null | Value[]

export interface Param {
  type: SpannerType
  value: Value
}

/** The latest instant Spanner stores (9999-12-31T23:59:59.99Z, on the 10 ms grid). */
const LATEST_MS = 253_402_300_799_990

/**
 * A number is encoded; a string is a value as Spanner sent it (a cell read back), written back
 * unchanged, so a timestamp keeps the precision it was stored with.
 */
const encode = {
  string: (value: string | null | undefined): Value => value ?? null,
  int: (value: number | Cell | undefined): Value => (value == null || typeof value === 'string' ? (value ?? null) : String(Math.trunc(value))),
  timestamp: (ms: number | Cell | undefined): Value =>
    ms == null || typeof ms === 'string' ? (ms ?? null) : new Date(Math.min(Math.max(ms, 0), LATEST_MS)).toISOString(),
}

export const string = (value: string): Param => ({ type: 'string', value: encode.string(value) })
export const int = (value: number): Param => ({ type: 'int64', value: encode.int(value) })
export const timestamp = (ms: number): Param => ({ type: 'timestamp', value: encode.timestamp(ms) })

export const strings = (values: readonly string[]): Param => ({ type: { type: 'array', child: 'string' }, value: values.map(encode.string) })
export const ints = (values: readonly number[]): Param => ({ type: { type: 'array', child: 'int64' }, value: values.map(encode.int) })

type FieldKind = keyof typeof encode
const TYPES: Record<FieldKind, ScalarType> = { string: 'string', int: 'int64', timestamp: 'timestamp' }

/**
 * An ARRAY<STRUCT<…>> parameter: one struct per row, fields named and typed by `fields`; a
 * field that is `undefined` or `null` in a row is NULL.
 */
export function structs<Row>(rows: readonly Row[], fields: { [Name in keyof Row]?: FieldKind }): Param {
  const entries = Object.entries(fields) as [keyof Row & string, FieldKind][]
  return {
    type: { type: 'array', child: { type: 'struct', fields: entries.map(([name, kind]) => ({ name, type: TYPES[kind] })) } },
    value: rows.map((row) => entries.map(([name, kind]) => encode[kind](row[name] as never))),
  }
}

/** The `params` and `types` of a query. */
export function queryParams(params: Record<string, Param>): { params: Record<string, Value>; types: Record<string, SpannerType> } {
  const values: Record<string, Value> = {}
  const types: Record<string, SpannerType> = {}
  for (const [name, param] of Object.entries(params)) {
    values[name] = param.value
    types[name] = param.type
  }
  return { params: values, types }
}

/** A result cell: strings as Spanner sends them (INT64 too, unrounded), NULL as null. */
export type Cell = string | null

/** A value the library decoded (its Int, PreciseDate, Float wrappers, or a string) as a cell. */
export function cellOf(value: unknown): Cell {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (value instanceof Date) return value.toISOString()
  const wrapped = (value as { value?: unknown }).value
  return wrapped === undefined ? String(value) : String(wrapped)
}
