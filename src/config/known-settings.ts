import { settingsSchema } from './schema.ts'

/** A node of the settings tree: a section (TOML table) with named children, or a value. */
export type SettingShape = { kind: 'section'; children: ReadonlyMap<string, SettingShape> } | { kind: 'value' }

interface SchemaLike {
  type: string
  entries?: Record<string, SchemaLike>
  wrapped?: SchemaLike
}

/** Reads the shape of the valibot schema, so a setting added to schema.ts is known everywhere. */
function shapeOf(schema: SchemaLike): SettingShape {
  if (schema.type === 'optional' && schema.wrapped) return shapeOf(schema.wrapped)
  if (schema.type === 'object' && schema.entries) {
    const children = new Map(Object.entries(schema.entries).map(([key, child]) => [key, shapeOf(child)]))
    return { kind: 'section', children }
  }
  return { kind: 'value' }
}

export const SETTINGS_SHAPE = shapeOf(settingsSchema as unknown as SchemaLike) as Extract<SettingShape, { kind: 'section' }>

/** Every value setting as its key path, e.g. `['syncstorage', 'limits', 'max_post_bytes']`. */
export function allSettingPaths(shape: SettingShape = SETTINGS_SHAPE, prefix: string[] = []): string[][] {
  if (shape.kind === 'value') return [prefix]
  return [...shape.children].flatMap(([key, child]) => allSettingPaths(child, [...prefix, key]))
}

/** The shape at `path`, or undefined when no such setting or section exists. */
export function shapeAt(path: readonly string[]): SettingShape | undefined {
  let shape: SettingShape | undefined = SETTINGS_SHAPE
  for (const key of path) shape = shape?.kind === 'section' ? shape.children.get(key) : undefined
  return shape
}

export const envName = (path: readonly string[]) => `SYNC_${path.map((key) => key.toUpperCase()).join('__')}`
