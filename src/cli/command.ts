/**
 * A subcommand: its name, one-line summary, options (which build its help text) and `run`.
 * Heavy modules are imported inside `run`, so `--help` and other commands stay instant.
 */
export interface Command {
  name: string
  summary: string
  /** Positional arguments, e.g. `<node-url>`; shown in usage. */
  args?: string
  options: readonly OptionSpec[]
  /** Returns the exit code: 0 ok, 1 failure, 2 usage. */
  run(input: CommandInput): Promise<number>
}

export interface OptionSpec {
  /** Long name without dashes, e.g. `config`. */
  name: string
  /** Takes a value (`--name VALUE` or `--name=VALUE`); otherwise a flag. */
  value?: string
  description: string
}

export interface CommandInput {
  /** Option values by name; flags are `true`. */
  options: Record<string, string | true>
  positionals: string[]
}

export class UsageError extends Error {
  override name = 'UsageError'
}

/** Splits argv by the command's option specs; unknown options are a UsageError. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): CommandInput {
  const options: Record<string, string | true> = {}
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg)
      continue
    }
    const [name, inline] = splitOnce(arg.slice(2), '=')
    const spec = specs.find((candidate) => candidate.name === name)
    if (spec === undefined) throw new UsageError(`unknown option --${name}`)
    if (spec.value === undefined) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`)
      options[name] = true
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) throw new UsageError(`--${name} needs a value (${spec.value})`)
    options[name] = value
  }
  return { options, positionals }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator)
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)]
}

/** The `--config FILE` option every command that reads settings accepts. */
export const CONFIG_OPTION: OptionSpec = { name: 'config', value: 'FILE', description: 'read settings from this TOML file' }
