import * as v from 'valibot'
import { settingsSchema, type RawSettings } from './schema.ts'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Tree = { [key: string]: unknown }

/**
 * Reads settings the way syncstorage-rs does: an optional TOML file, overridden by `SYNC_*`
 * environment variables whose `__` separates nesting levels (keys are case-insensitive).
 * Throws one `ConfigError` naming the first bad setting, its variable and the expected form.
 */
export async function loadSettings(options: { configFile?: string; env?: Record<string, string | undefined> } = {}): Promise<RawSettings> {
  const fromFile = options.configFile === undefined ? {} : await readTomlFile(options.configFile)
  const merged = mergeTrees(fromFile, settingsFromEnv(options.env ?? process.env))
  return parseSettings(merged)
}

export function parseSettings(tree: unknown): RawSettings {
  const result = v.safeParse(settingsSchema, tree)
  if (result.success) return result.output
  throw new ConfigError(describeIssue(result.issues[0]))
}

async function readTomlFile(path: string): Promise<Tree> {
  const file = Bun.file(path)
  if (!(await file.exists())) throw new ConfigError(`config file ${path} does not exist`)
  try {
    return lowerCaseKeys(Bun.TOML.parse(await file.text())) as Tree
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid TOML: ${(error as Error).message}`)
  }
}

export function settingsFromEnv(env: Record<string, string | undefined>): Tree {
  const tree: Tree = {}
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !/^SYNC_/i.test(name)) continue
    const path = name.slice('SYNC_'.length).toLowerCase().split('__')
    if (path.some((part) => part === '')) continue
    setPath(tree, path, value)
  }
  return tree
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

function lowerCaseKeys(value: unknown): unknown {
  if (!isTree(value)) return value
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key.toLowerCase(), lowerCaseKeys(child)]))
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describeIssue(issue: v.BaseIssue<unknown> | undefined): string {
  if (issue === undefined) return 'invalid configuration'
  const keys = (issue.path ?? []).map((item) => String(item.key))
  const setting = keys.join('.') || '(root)'
  const envName = `SYNC_${keys.map((key) => key.toUpperCase()).join('__')}`
  const received = issue.input === undefined ? 'nothing' : JSON.stringify(issue.input)
  return `invalid setting ${setting} (${envName}): ${issue.message}, got ${received}`
}
