#!/usr/bin/env bun
import { ConfigError } from './config/load.ts'
import { parseArgs, UsageError, type Command } from './cli/command.ts'
import { backupCommand } from './cli/backup.ts'
import { copyCommand } from './cli/copy.ts'
import { healthcheckCommand } from './cli/healthcheck.ts'
import { migrateCommand } from './cli/migrate.ts'
import { nodesCommand } from './cli/nodes.ts'
import { usersCommand } from './cli/users.ts'
import { serveCommand } from './cli/serve.ts'
import { VERSION, VERSION_LINE } from './version.ts'

const COMMANDS: readonly Command[] = [serveCommand, migrateCommand, nodesCommand, usersCommand, healthcheckCommand, backupCommand, copyCommand]

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length))
  const lines = [
    `syncserver ${VERSION}: a Firefox Sync server (storage API 1.5 and tokenserver 1.0) in one binary`,
    '',
    'usage: syncserver [command] [options]',
    '',
    'commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'options:',
    '  --help      show help (also: syncserver <command> --help)',
    '  --version   print the version',
    '',
    'Settings come from --config FILE (TOML) and SYNC_* environment variables; see the README.',
  ]
  return lines.join('\n')
}

function commandHelp(command: Command): string {
  const options = command.options.map((option) => {
    const name = option.value === undefined ? `--${option.name}` : `--${option.name} ${option.value}`
    return `  ${name.padEnd(24)}  ${option.description}`
  })
  return [`usage: syncserver ${command.name}${command.args ? ` ${command.args}` : ''} [options]`, '', command.summary, '', 'options:', ...options].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === '--version' || first === '-V') {
    console.log(VERSION_LINE)
    return 0
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(usage())
    return 0
  }
  const named = COMMANDS.find((command) => command.name === first)
  const command = named ?? serveCommand
  const args = named === undefined ? argv : rest
  if (named === undefined && first !== undefined && !first.startsWith('--')) {
    console.error(`unknown command "${first}"\n\n${usage()}`)
    return 2
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(commandHelp(command))
    return 0
  }
  try {
    const input = parseArgs(args, command.options)
    if (command.args === undefined && input.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${input.positionals[0]}"`)
    }
    return await command.run(input)
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${commandHelp(command)}`)
      return 2
    }
    if (error instanceof ConfigError) {
      console.error(`syncserver: ${error.message}`)
      return 1
    }
    console.error(`syncserver: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
