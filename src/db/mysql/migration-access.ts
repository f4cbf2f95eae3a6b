import mysql from 'mysql2/promise'
import type { MigrationAccess } from '../migrated-schema.ts'
import { mysqlMigrationTarget } from './connection.ts'

/** Migrations run on a connection of their own, closed before the pool opens. */
export const mysqlMigrationAccess: MigrationAccess<string, mysql.Connection> = {
  connect: (url, timeoutSeconds) => mysql.createConnection({ uri: url, connectTimeout: timeoutSeconds * 1000, charset: 'utf8mb4' }),
  target: mysqlMigrationTarget,
  close: (connection) => connection.end(),
  handsOver: false,
}
