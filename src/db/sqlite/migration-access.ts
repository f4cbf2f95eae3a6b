import type { MigrationAccess } from '../migrated-schema.ts'
import { SqliteConnection, sqliteMigrationTarget } from './connection.ts'

/** Storage and tokenserver tables in one file share one connection, which the backend keeps. */
export const sqliteMigrationAccess: MigrationAccess<string, SqliteConnection> = {
  connect: (path) => SqliteConnection.shared(path),
  target: sqliteMigrationTarget,
  close: (connection) => connection.close(),
  handsOver: true,
}
