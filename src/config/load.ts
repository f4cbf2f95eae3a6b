import * as v from 'valibot'
import { closest } from './closest.ts'
import { allSettingPaths, envName, shapeAt, type SettingShape } from './known-settings.ts'
import { settingsSchema, type RawSettings } from './schema.ts'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Tree = { [key: string]: unknown }

export interface LoadOptions {
  configFile?: string
  env?: Record<string, string | undefined>
  /** Command-line flags (`serve --port`), which win over the file and the environment. */
  overrides?: { values: Tree; sources: Map<string, string> }
}

/** Settings, where each came from, and what the operator should hear about. */
export interface LoadedSettings {
  settings: RawSettings
  /** Dotted setting → its source (`file.toml line 3`, `SYNC_PORT`, `--port`); absent = default. */
  sources: ReadonlyMap<string, string>
  /** Non-fatal problems, e.g. an unknown SYNC_* variable, each naming the likely intent. */
  warnings: string[]
}

/**
 * Reads settings the way syncstorage-rs does: an optional TOML file, overridden by `SYNC_*`
 * environment variables whose `__` separates nesting levels (keys are case-insensitive).
 * Throws one `ConfigError` naming the first bad setting, its variable and the expected form.
 */
export async function loadSettings(options: LoadOptions = {}): Promise<RawSettings> {
  return (await loadConfiguration(options)).settings
}

/**
 * {@link loadSettings} plus sources and warnings. A key the TOML file misspells is an error (a
 * silently ignored security setting is worse than a refusal to start); an unknown `SYNC_*`
 * variable is a warning, since the environment holds more than our settings.
 */
export async function loadConfiguration(options: LoadOptions = {}): Promise<LoadedSettings> {
  const sources = new Map<string, string>()
  const warnings: string[] = []
  let merged: Tree = {}
  if (options.configFile !== undefined) {
    const file = await readTomlFile(options.configFile)
    rejectUnknownKeys(file.tree, [], (path, message) => {
      throw new ConfigError(`${message} (${options.configFile}${lineSuffix(file.lines, path)})`)
    })
    for (const path of leafPaths(file.tree)) sources.set(path.join('.'), `${options.configFile}${lineSuffix(file.lines, path)}`)
    merged = file.tree
  }
  const fromEnv = settingsFromEnv(options.env ?? process.env, (name, path) => {
    warnings.push(unknownVariableWarning(name, path))
  })
  for (const [path, name] of fromEnv.names) sources.set(path, name)
  merged = mergeTrees(merged, fromEnv.tree)
  if (options.overrides) {
    merged = mergeTrees(merged, options.overrides.values)
    for (const [path, flag] of options.overrides.sources) sources.set(path, flag)
  }
  return { settings: parseSettings(merged, sources), sources, warnings }
}

export function parseSettings(tree: unknown, sources: ReadonlyMap<string, string> = new Map()): RawSettings {
  const result = v.safeParse(settingsSchema, tree)
  if (result.success) return result.output
  throw new ConfigError(describeIssue(result.issues[0], sources))
}

async function readTomlFile(path: string): Promise<{ tree: Tree; lines: Map<string, number> }> {
  const file = Bun.file(path)
  if (!(await file.exists())) throw new ConfigError(`config file ${path} does not exist (given with --config)`)
  const text = await file.text()
  try {
    return { tree: lowerCaseKeys(Bun.TOML.parse(text)) as Tree, lines: keyLines(text) }
  } catch (error) {
    const reason = (error as Error).message.replace(/^TOML Parse error: /, '')
    throw new ConfigError(`config file ${path} line ${syntaxErrorLine(text)} is not valid TOML: ${reason}`)
  }
}

/**
 * The line of a TOML syntax error (Bun's parser does not say reliably): the line after the
 * longest prefix of whole lines that still parses. A value spanning lines cannot hide it, since
 * every prefix from the faulty line on fails.
 */
function syntaxErrorLine(text: string): number {
  const lines = text.split('\n')
  for (let count = lines.length - 1; count > 0; count--) {
    try {
      Bun.TOML.parse(lines.slice(0, count).join('\n'))
      return count + 1
    } catch {
      // Still failing: the fault is at or before this line.
    }
  }
  return 1
}

/** The line (1-based) of each key and table header in a TOML text, by dotted lower-case path. */
function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>()
  let table: string[] = []
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim()
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line)
    if (header) {
      table = splitKey(header[1] as string)
      if (!lines.has(table.join('.'))) lines.set(table.join('.'), index + 1)
      return
    }
    const key = /^([A-Za-z0-9_."' -]+?)\s*=/.exec(line)
    if (key) lines.set([...table, ...splitKey(key[1] as string)].join('.'), index + 1)
  })
  return lines
}

const splitKey = (key: string) => key.split('.').map((part) => part.trim().replace(/^["']|["']$/g, '').toLowerCase())

function lineSuffix(lines: ReadonlyMap<string, number>, path: readonly string[]): string {
  for (let length = path.length; length > 0; length--) {
    const line = lines.get(path.slice(0, length).join('.'))
    if (line !== undefined) return ` line ${line}`
  }
  return ''
}

/** Calls `report` for the first key of `tree` that names no setting, with a suggestion. */
function rejectUnknownKeys(tree: Tree, prefix: string[], report: (path: string[], message: string) => never): void {
  for (const [key, value] of Object.entries(tree)) {
    const path = [...prefix, key]
    const shape = shapeAt(path)
    if (shape === undefined) report(path, `unknown setting ${path.join('.')}${suggestion(path, (p) => p.join('.'))}`)
    if (shape.kind !== 'section') continue
    if (Array.isArray(value)) {
      report(path, `${path.join('.')} is a table: write [${path.join('.')}], not [[${path.join('.')}]]`)
    }
    if (isTree(value)) rejectUnknownKeys(value, path, report)
  }
}

/** "; did you mean X?" for the known setting nearest to `path`, or nothing. */
function suggestion(path: readonly string[], spell: (path: readonly string[]) => string): string {
  const known = allSettingPaths()
  const byName = new Map(known.map((candidate) => [spell(candidate), candidate]))
  const nearest =
    closest(spell(path), [...byName.keys()]) ??
    // A right name in the wrong place, e.g. `database_url` at the top level.
    known.map(spell).find((name) => name.endsWith(`.${path.at(-1)}`) || name.endsWith(`__${String(path.at(-1)).toUpperCase()}`))
  return nearest === undefined ? '' : `; did you mean ${nearest}?`
}

function unknownVariableWarning(name: string, path: readonly string[]): string {
  return `environment variable ${name} is not a setting and is ignored${suggestion(path, envName)}`
}

/**
 * The settings in `SYNC_*` variables, and the variable each came from. `onUnknown` hears of
 * variables that name no setting; they are left out.
 */
export function settingsFromEnv(
  env: Record<string, string | undefined>,
  onUnknown: (name: string, path: string[]) => void = () => {},
): { tree: Tree; names: Map<string, string> } {
  const tree: Tree = {}
  const names = new Map<string, string>()
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !/^SYNC_/i.test(name)) continue
    const path = name.slice('SYNC_'.length).toLowerCase().split('__')
    if (!isSettingPath(path)) {
      onUnknown(name, path)
      continue
    }
    setPath(tree, path, value)
    names.set(path.join('.'), name)
  }
  return { tree, names }
}

/** A path to a value setting, or into a value that holds free-form keys (a JWK field). */
function isSettingPath(path: readonly string[]): boolean {
  if (path.some((part) => part === '')) return false
  const shape: SettingShape | undefined = shapeAt(path)
  return shape !== undefined && shape.kind === 'value'
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree
  for (const key of path.slice(0, -1)) {
    const child = node[key]
    node = (typeof child === 'object' && child !== null ? child : (node[key] = {})) as Tree
  }
  node[path.at(-1) as string] = value
}

function mergeTrees(base: Tree, override: Tree): Tree {
  const out: Tree = { ...base }
  for (const [key, value] of Object.entries(override)) {
    const existing = out[key]
    out[key] = isTree(existing) && isTree(value) ? mergeTrees(existing, value) : value
  }
  return out
}

function leafPaths(tree: Tree, prefix: string[] = []): string[][] {
  return Object.entries(tree).flatMap(([key, value]) => (isTree(value) ? leafPaths(value, [...prefix, key]) : [[...prefix, key]]))
}

function lowerCaseKeys(value: unknown): unknown {
  if (!isTree(value)) return value
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key.toLowerCase(), lowerCaseKeys(child)]))
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describeIssue(issue: v.BaseIssue<unknown> | undefined, sources: ReadonlyMap<string, string>): string {
  if (issue === undefined) return 'invalid configuration'
  const keys = (issue.path ?? []).map((item) => String(item.key))
  const setting = keys.join('.') || '(root)'
  const received = issue.input === undefined ? 'nothing' : JSON.stringify(issue.input)
  const source = sources.get(setting)
  const from = source === undefined || source === envName(keys) ? '' : `, from ${source}`
  return `invalid setting ${setting} (${envName(keys)}${from}): ${issue.message}, got ${received}`
}
