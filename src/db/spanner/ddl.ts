/**
 * Reading `schema.ddl` and deciding which of its statements a database still lacks, by comparing
 * with the database's own DDL (GetDatabaseDdl). Spanner reports the schema as it is now, not the
 * statements that built it (added columns and policies appear inside CREATE TABLE), so each
 * statement is checked against the object it creates or changes.
 */

/** The statements of a DDL text: `--` comments removed, split at `;` outside quotes. */
export function splitStatements(text: string): string[] {
  const statements: string[] = []
  let current = ''
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string
    if (quote !== undefined) {
      current += char
      if (char === '\\') current += text[++i] ?? ''
      else if (char === quote) quote = undefined
    } else if (char === '-' && text[i + 1] === '-') {
      while (i < text.length && text[i] !== '\n') i++
      current += '\n'
    } else if (char === ';') {
      statements.push(current)
      current = ''
    } else {
      if (char === "'" || char === '"' || char === '`') quote = char
      current += char
    }
  }
  statements.push(current)
  return statements.map(normalise).filter((statement) => statement !== '')
}

/** One statement on one line, runs of whitespace folded (outside quotes nothing needs them). */
const normalise = (statement: string): string => statement.replace(/\s+/g, ' ').trim()

/** Statements of fine-grained access control, which only the offload reconciler needs. */
export function isAccessControl(statement: string): boolean {
  return /^(CREATE ROLE|DROP ROLE|GRANT|REVOKE)\b/i.test(statement)
}

interface Column {
  name: string
  notNull: boolean
}

interface Table {
  columns: Map<string, Column>
  hasRowDeletionPolicy: boolean
}

/** What a database has, read from its DDL statements. */
export interface SchemaObjects {
  tables: Map<string, Table>
  /** Indexes, change streams and roles, by kind and lower-case name. */
  named: Set<string>
  /** Other statements (grants), normalised and lower-cased. */
  verbatim: Set<string>
}

const key = (kind: string, name: string) => `${kind} ${name.toLowerCase()}`

export function readSchema(statements: readonly string[]): SchemaObjects {
  const schema: SchemaObjects = { tables: new Map(), named: new Set(), verbatim: new Set() }
  for (const statement of statements.map(normalise)) {
    const table = /^CREATE TABLE `?(\w+)`? \((.*)\) PRIMARY KEY/i.exec(statement)
    if (table !== null) {
      schema.tables.set((table[1] as string).toLowerCase(), {
        columns: new Map(columnsOf(table[2] as string).map((column) => [column.name, column])),
        hasRowDeletionPolicy: /\bROW DELETION POLICY\b/i.test(statement),
      })
      continue
    }
    const named = /^CREATE (?:UNIQUE |NULL_FILTERED )*(INDEX|CHANGE STREAM|ROLE) `?(\w+)`?/i.exec(statement)
    if (named !== null) schema.named.add(key((named[1] as string).toUpperCase(), named[2] as string))
    else schema.verbatim.add(statement.toLowerCase())
  }
  return schema
}

/** Column definitions of a CREATE TABLE body, split at top-level commas (types have parentheses). */
function columnsOf(body: string): Column[] {
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const char of body) {
    if (char === '(') depth++
    if (char === ')') depth--
    if (char === ',' && depth === 0) {
      parts.push(current)
      current = ''
    } else current += char
  }
  parts.push(current)
  return parts
    .map((part) => part.trim())
    .filter((part) => part !== '' && !/^CONSTRAINT\b/i.test(part))
    .map(columnOf)
}

function columnOf(definition: string): Column {
  const name = /^`?(\w+)`?/.exec(definition)?.[1] ?? definition
  return { name: name.toLowerCase(), notNull: /\bNOT NULL\b/i.test(definition) }
}

/**
 * Whether the database already has what `statement` creates or changes. A statement whose
 * effect cannot be read from the DDL counts as present only when the DDL holds it verbatim.
 */
export function isApplied(statement: string, schema: SchemaObjects): boolean {
  const text = normalise(statement)
  const createTable = /^CREATE TABLE `?(\w+)`?/i.exec(text)
  if (createTable !== null) return schema.tables.has((createTable[1] as string).toLowerCase())
  const named = /^CREATE (?:UNIQUE |NULL_FILTERED )*(INDEX|CHANGE STREAM|ROLE) `?(\w+)`?/i.exec(text)
  if (named !== null) return schema.named.has(key((named[1] as string).toUpperCase(), named[2] as string))
  const alter = /^ALTER TABLE `?(\w+)`? (.*)$/i.exec(text)
  if (alter !== null) {
    const table = schema.tables.get((alter[1] as string).toLowerCase())
    return table !== undefined && isAlterApplied(alter[2] as string, table)
  }
  return schema.verbatim.has(text.toLowerCase())
}

function isAlterApplied(change: string, table: Table): boolean {
  if (/^ADD ROW DELETION POLICY\b/i.test(change)) return table.hasRowDeletionPolicy
  const addColumn = /^ADD COLUMN (?:IF NOT EXISTS )?`?(\w+)`?/i.exec(change)
  if (addColumn !== null) return table.columns.has((addColumn[1] as string).toLowerCase())
  const alterColumn = /^ALTER COLUMN `?(\w+)`? (.*)$/i.exec(change)
  if (alterColumn !== null) {
    const column = table.columns.get((alterColumn[1] as string).toLowerCase())
    return column !== undefined && column.notNull === /\bNOT NULL\b/i.test(alterColumn[2] as string)
  }
  return false
}

/** The statements of `wanted` that the database described by `current` lacks, in order. */
export function missingStatements(wanted: readonly string[], current: readonly string[]): string[] {
  const schema = readSchema(current)
  return wanted.filter((statement) => !isApplied(statement, schema))
}
