/**
 * Query parameters in the wire form of the Spanner API: a protobuf `Value` plus its Spanner
 * type. INT64 and TIMESTAMP travel as strings; a struct is a list of its field values.
 */
export interface SpannerType {
  code: 'STRING' | 'INT64' | 'TIMESTAMP' | 'ARRAY' | 'STRUCT'
  arrayElementType?: SpannerType
  structType?: { fields: { name: string; type: SpannerType }[] }
}

export interface WireValue {
  stringValue?: string
  nullValue?: 'NULL_VALUE'
  listValue?: { values: WireValue[] }
}

export interface Param {
  type: SpannerType
  value: WireValue
}

const STRING: SpannerType = { code: 'STRING' }
const INT64: SpannerType = { code: 'INT64' }
const TIMESTAMP: SpannerType = { code: 'TIMESTAMP' }

const NULL: WireValue = { nullValue: 'NULL_VALUE' }

/** The latest instant Spanner stores (9999-12-31T23:59:59.99Z, on the 10 ms grid). */
const LATEST_MS = 253_402_300_799_990

const wire = {
  string: (value: string | null | undefined): WireValue => (value == null ? NULL : { stringValue: value }),
  int: (value: number | null | undefined): WireValue => (value == null ? NULL : { stringValue: String(Math.trunc(value)) }),
  timestamp: (ms: number | null | undefined): WireValue =>
    ms == null ? NULL : { stringValue: new Date(Math.min(Math.max(ms, 0), LATEST_MS)).toISOString() },
}

export const string = (value: string): Param => ({ type: STRING, value: wire.string(value) })
export const int = (value: number): Param => ({ type: INT64, value: wire.int(value) })
export const timestamp = (ms: number): Param => ({ type: TIMESTAMP, value: wire.timestamp(ms) })

export const strings = (values: readonly string[]): Param => ({
  type: { code: 'ARRAY', arrayElementType: STRING },
  value: { listValue: { values: values.map(wire.string) } },
})

export const ints = (values: readonly number[]): Param => ({
  type: { code: 'ARRAY', arrayElementType: INT64 },
  value: { listValue: { values: values.map(wire.int) } },
})

type FieldKind = keyof typeof wire
const TYPES: Record<FieldKind, SpannerType> = { string: STRING, int: INT64, timestamp: TIMESTAMP }

/**
 * An ARRAY<STRUCT<…>> parameter: one struct per row, fields named and typed by `fields`; a
 * field that is `undefined` or `null` in a row is NULL.
 */
export function structs<Row>(rows: readonly Row[], fields: { [Name in keyof Row]?: FieldKind }): Param {
  const entries = Object.entries(fields) as [keyof Row & string, FieldKind][]
  return {
    type: {
      code: 'ARRAY',
      arrayElementType: { code: 'STRUCT', structType: { fields: entries.map(([name, kind]) => ({ name, type: TYPES[kind] })) } },
    },
    value: {
      listValue: {
        values: rows.map((row) => ({
          listValue: { values: entries.map(([name, kind]) => wire[kind](row[name] as never)) },
        })),
      },
    },
  }
}

/** The `params` and `paramTypes` fields of an ExecuteSql request. */
export function wireParams(params: Record<string, Param>): { params: { fields: Record<string, WireValue> }; paramTypes: Record<string, SpannerType> } {
  const fields: Record<string, WireValue> = {}
  const paramTypes: Record<string, SpannerType> = {}
  for (const [name, param] of Object.entries(params)) {
    fields[name] = param.value
    paramTypes[name] = param.type
  }
  return { params: { fields }, paramTypes }
}

/** A result cell: strings as sent (INT64 too), NULL as null. */
export type Cell = string | null

export function cellOf(value: WireValue | null | undefined): Cell {
  return value?.stringValue ?? null
}
