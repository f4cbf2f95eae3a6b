import { describe, expect, test } from 'bun:test'
import { isAccessControl, missingStatements, splitStatements } from '../../src/db/spanner/ddl.ts'
import { schemaStatements } from '../../src/db/spanner/prepare.ts'

/** GetDatabaseDdl of emulator 1.5.28 after statements 1-12: later changes folded into CREATE TABLE. */
const EMULATOR_AFTER_TWELVE = [
  'CREATE TABLE user_collections (\n  fxa_uid STRING(MAX) NOT NULL,\n  fxa_kid STRING(MAX) NOT NULL,\n  collection_id INT64 NOT NULL,\n  modified TIMESTAMP NOT NULL,\n  count INT64,\n  total_bytes INT64,\n) PRIMARY KEY(fxa_uid, fxa_kid, collection_id)',
  'CREATE TABLE bsos (\n  fxa_uid STRING(MAX) NOT NULL,\n  fxa_kid STRING(MAX) NOT NULL,\n  collection_id INT64 NOT NULL,\n  bso_id STRING(MAX) NOT NULL,\n  sortindex INT64,\n  payload STRING(MAX),\n  modified TIMESTAMP NOT NULL,\n  expiry TIMESTAMP NOT NULL,\n  payload_link STRING(MAX),\n) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, bso_id),\n  INTERLEAVE IN PARENT user_collections ON DELETE CASCADE, ROW DELETION POLICY (OLDER_THAN(expiry, INTERVAL 0 DAY))',
  'CREATE TABLE collections (\n  collection_id INT64 NOT NULL,\n  name STRING(32) NOT NULL,\n) PRIMARY KEY(collection_id)',
  'CREATE UNIQUE INDEX CollectionName ON collections(name)',
  'CREATE TABLE batches (\n  fxa_uid STRING(MAX) NOT NULL,\n  fxa_kid STRING(MAX) NOT NULL,\n  collection_id INT64 NOT NULL,\n  batch_id STRING(MAX) NOT NULL,\n  expiry TIMESTAMP NOT NULL,\n) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, batch_id),\n  INTERLEAVE IN PARENT user_collections ON DELETE CASCADE, ROW DELETION POLICY (OLDER_THAN(expiry, INTERVAL 0 DAY))',
  'CREATE TABLE batch_bsos (\n  fxa_uid STRING(MAX) NOT NULL,\n  fxa_kid STRING(MAX) NOT NULL,\n  collection_id INT64 NOT NULL,\n  batch_id STRING(MAX) NOT NULL,\n  batch_bso_id STRING(MAX) NOT NULL,\n  sortindex INT64,\n  payload STRING(MAX),\n  ttl INT64,\n  payload_link STRING(MAX),\n) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, batch_id, batch_bso_id),\n  INTERLEAVE IN PARENT batches ON DELETE CASCADE',
  "CREATE CHANGE STREAM payload_link_changes FOR bsos(payload_link), batch_bsos(payload_link) OPTIONS (retention_period = '7d', value_capture_type = 'OLD_AND_NEW_VALUES')",
]

describe('schema.ddl', () => {
  const statements = schemaStatements()

  test('holds the 15 statements of the syncstorage-rs schema, in its order', () => {
    expect(statements).toHaveLength(15)
    expect(statements.slice(0, 6).map((statement) => statement.split(' (')[0])).toEqual([
      'CREATE TABLE user_collections',
      'CREATE TABLE bsos',
      'CREATE TABLE collections',
      'CREATE UNIQUE INDEX CollectionName ON collections(name)',
      'CREATE TABLE batches',
      'CREATE TABLE batch_bsos',
    ])
    expect(statements.filter(isAccessControl)).toHaveLength(3)
    expect(statements.every((statement) => !statement.includes('--') && !statement.endsWith(';'))).toBe(true)
  })

  test('a new database lacks every statement', () => {
    expect(missingStatements(statements, [])).toEqual(statements)
  })

  test('a database prepared up to the change stream lacks only the access control statements', () => {
    expect(missingStatements(statements, EMULATOR_AFTER_TWELVE)).toEqual(statements.filter(isAccessControl))
  })

  test('a database from an older syncstorage-rs gets the policies, link columns and nullable payload', () => {
    const older = [
      EMULATOR_AFTER_TWELVE[0] as string,
      'CREATE TABLE bsos (fxa_uid STRING(MAX) NOT NULL, fxa_kid STRING(MAX) NOT NULL, collection_id INT64 NOT NULL, bso_id STRING(MAX) NOT NULL, sortindex INT64, payload STRING(MAX) NOT NULL, modified TIMESTAMP NOT NULL, expiry TIMESTAMP NOT NULL,) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, bso_id), INTERLEAVE IN PARENT user_collections ON DELETE CASCADE',
      'CREATE INDEX BsoModified ON bsos(fxa_uid, fxa_kid, collection_id, modified DESC), INTERLEAVE IN user_collections',
      ...EMULATOR_AFTER_TWELVE.slice(2, 4),
      'CREATE TABLE batches (fxa_uid STRING(MAX) NOT NULL, fxa_kid STRING(MAX) NOT NULL, collection_id INT64 NOT NULL, batch_id STRING(MAX) NOT NULL, expiry TIMESTAMP NOT NULL,) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, batch_id), INTERLEAVE IN PARENT user_collections ON DELETE CASCADE',
      'CREATE TABLE batch_bsos (fxa_uid STRING(MAX) NOT NULL, fxa_kid STRING(MAX) NOT NULL, collection_id INT64 NOT NULL, batch_id STRING(MAX) NOT NULL, batch_bso_id STRING(MAX) NOT NULL, sortindex INT64, payload STRING(MAX), ttl INT64,) PRIMARY KEY(fxa_uid, fxa_kid, collection_id, batch_id, batch_bso_id), INTERLEAVE IN PARENT batches ON DELETE CASCADE',
    ]
    expect(missingStatements(statements, older).map((statement) => statement.slice(0, 40))).toEqual(
      statements.slice(6).map((statement) => statement.slice(0, 40)),
    )
  })

  test('statements split at semicolons outside quotes, without comments', () => {
    expect(splitStatements("-- a comment; not a statement\nCREATE ROLE r; -- trailing\nGRANT x ON 'a;b' TO ROLE r;\n")).toEqual([
      'CREATE ROLE r',
      "GRANT x ON 'a;b' TO ROLE r",
    ])
  })
})
