import { applyMigrations, type MigrationReport, type MigrationTarget } from './migrations/apply.ts'
import type { EmbeddedMigration } from './migrations/embed.ts'
import { migrateOrRefuse } from './migrations/require.ts'

/** How long `syncserver migrate` waits for a server database, in seconds. */
const MIGRATE_TIMEOUT_SECONDS = 30

/** How one engine reaches its database to migrate it. */
export interface MigrationAccess<Location, Connection> {
  /** A connection of its own for the migrations (SQLite: the file's shared one). */
  connect(location: Location, timeoutSeconds: number): Connection | Promise<Connection>
  target(connection: Connection): MigrationTarget
  close(connection: Connection): void | Promise<void>
  /**
   * True when the backend goes on with the migration connection (SQLite); otherwise it is
   * closed before the backend opens its pool.
   */
  handsOver: boolean
}

export interface MigrationOptions {
  /** Apply pending migrations at start; when false, refuse to run on an outdated schema. */
  runMigrations: boolean
  connectionTimeoutSeconds?: number
}

export interface MigratedSchema<Location, Connection> {
  /** Applies pending migrations (or refuses to run on an outdated schema), then opens the backend. */
  open<Backend>(location: Location, options: MigrationOptions, create: (connection: Connection) => Backend): Promise<Backend>
  /** Applies the migrations; returns the tags it applied. */
  migrate(location: Location): Promise<MigrationReport>
}

/** The one open / migrate shape of every engine's storage and tokenserver schemas. */
export function migratedSchema<Location, Connection>(
  access: MigrationAccess<Location, Connection>,
  subject: 'storage' | 'tokenserver',
  migrations: readonly EmbeddedMigration[],
): MigratedSchema<Location, Connection> {
  return {
    async open(location, options, create) {
      const connection = await access.connect(location, options.connectionTimeoutSeconds ?? MIGRATE_TIMEOUT_SECONDS)
      try {
        await migrateOrRefuse(subject, access.target(connection), migrations, options.runMigrations)
      } catch (error) {
        await access.close(connection)
        throw error
      }
      if (!access.handsOver) await access.close(connection)
      return create(connection)
    },
    async migrate(location) {
      const connection = await access.connect(location, MIGRATE_TIMEOUT_SECONDS)
      try {
        return await applyMigrations(access.target(connection), migrations)
      } finally {
        await access.close(connection)
      }
    },
  }
}
