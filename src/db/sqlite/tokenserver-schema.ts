import { customType, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/**
 * Tokenserver tables with the names, column order and meaning of syncstorage-rs's MySQL ones
 * (database.md §5.1): ops tooling reads them with `SELECT *` and unpacks rows by position.
 * No foreign keys and no column defaults, as there.
 */

/**
 * A 64-bit INTEGER held as `bigint`. Written exactly (bun:sqlite binds bigints as int64); read
 * through `cast(... as text)` in the backend, because a plain read yields a double.
 */
const int64 = customType<{ data: bigint; driverData: bigint | number | string }>({
  dataType: () => 'integer',
  fromDriver(value) {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`64-bit column read as a double (${value}); select it with cast(... as text)`)
    }
    return BigInt(value)
  },
})

export const services = sqliteTable('services', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  service: text('service', { length: 30 }).unique(),
  pattern: text('pattern', { length: 128 }),
})

export const nodes = sqliteTable(
  'nodes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    service: integer('service').notNull(),
    node: text('node', { length: 64 }).notNull(),
    available: integer('available').notNull(),
    currentLoad: integer('current_load').notNull(),
    capacity: integer('capacity').notNull(),
    downed: integer('downed').notNull(),
    backoff: integer('backoff').notNull(),
  },
  (t) => [uniqueIndex('unique_idx').on(t.service, t.node)],
)

export const users = sqliteTable(
  'users',
  {
    // AUTOINCREMENT: a uid must never be handed out twice, even after its row is purged.
    uid: integer('uid').primaryKey({ autoIncrement: true }),
    service: integer('service').notNull(),
    email: text('email', { length: 255 }).notNull(),
    generation: int64('generation').notNull(),
    clientState: text('client_state', { length: 32 }).notNull(),
    createdAt: int64('created_at').notNull(),
    replacedAt: int64('replaced_at'),
    nodeid: integer('nodeid').notNull(),
    keysChangedAt: int64('keys_changed_at'),
  },
  (t) => [
    index('lookup_idx').on(t.email, t.service, t.createdAt),
    index('replaced_at_idx').on(t.service, t.replacedAt),
    index('node_idx').on(t.nodeid),
  ],
)
