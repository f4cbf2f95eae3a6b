import { bigint, index, int, mysqlTable, uniqueIndex, varchar } from 'drizzle-orm/mysql-core'

/**
 * Tokenserver tables in the final state of syncstorage-rs's MySQL migrations (database.md §5.1):
 * names, column order, types and index names as there, no foreign keys, no column defaults.
 * The migration adds what Drizzle cannot express: InnoDB, `users` in utf8 starting its uids at
 * 4, the seed row, and re-runnable DDL (MySQL DDL is not transactional).
 *
 * 64-bit values that can exceed 2^53 (generation, timestamps) are `bigint`; ids are numbers.
 * mysql2 (supportBigNumbers) hands an int8 beyond 2^53 over as text, so both read back exactly.
 */

export const services = mysqlTable('services', {
  id: int('id').autoincrement().primaryKey(),
  service: varchar('service', { length: 30 }).unique('service'),
  pattern: varchar('pattern', { length: 128 }),
})

export const nodes = mysqlTable(
  'nodes',
  {
    id: bigint('id', { mode: 'number' }).autoincrement().primaryKey(),
    service: int('service').notNull(),
    node: varchar('node', { length: 64 }).notNull(),
    available: int('available').notNull(),
    currentLoad: int('current_load').notNull(),
    capacity: int('capacity').notNull(),
    downed: int('downed').notNull(),
    backoff: int('backoff').notNull(),
  },
  (t) => [uniqueIndex('unique_idx').on(t.service, t.node)],
)

export const users = mysqlTable(
  'users',
  {
    uid: bigint('uid', { mode: 'number' }).autoincrement().primaryKey(),
    service: int('service').notNull(),
    email: varchar('email', { length: 255 }).notNull(),
    generation: bigint('generation', { mode: 'bigint' }).notNull(),
    clientState: varchar('client_state', { length: 32 }).notNull(),
    createdAt: bigint('created_at', { mode: 'bigint' }).notNull(),
    replacedAt: bigint('replaced_at', { mode: 'bigint' }),
    nodeid: bigint('nodeid', { mode: 'number' }).notNull(),
    keysChangedAt: bigint('keys_changed_at', { mode: 'bigint' }),
  },
  (t) => [
    index('lookup_idx').on(t.email, t.service, t.createdAt),
    index('replaced_at_idx').on(t.service, t.replacedAt),
    index('node_idx').on(t.nodeid),
  ],
)
