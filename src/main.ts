#!/usr/bin/env bun
import { parseArgs, UsageError, type Command } from './cli/command.ts'
import { backupCommand } from './cli/backup.ts'
import { configCommand } from './cli/config.ts'
import { doctorCommand } from './cli/doctor.ts'
import { copyCommand } from './cli/copy.ts'
import { healthcheckCommand } from './cli/healthcheck.ts'
import { migrateCommand } from './cli/migrate.ts'
import { nodesCommand } from './cli/nodes.ts'
import { prepareSpannerCommand } from './cli/prepare-spanner.ts'
import { purgeCommand } from './cli/purge.ts'
import { usersCommand } from './cli/users.ts'
import { normalJitPolicy, serveCommand } from './cli/serve.ts'
import { VERSION, VERSION_LINE } from './version.ts'

const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  prepareSpannerCommand,
  configCommand,
  doctorCommand,
  nodesCommand,
  usersCommand,
  healthcheckCommand,
  backupCommand,
  copyCommand,
  purgeCommand,
]

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
    'quick start:',
    '  syncserver                     listen on http://127.0.0.1:8000, data and secret in ./syncserver.db*',
    '  syncserver --host 0.0.0.0 --public-url https://sync.example.com',
    '                                 listen on every address; Firefox reaches it at that URL (your proxy)',
    '  then in Firefox, before signing in to Sync: about:config →',
    '    identity.sync.tokenserver.uri = <public URL>/1.0/sync/1.5   (the server prints the exact value)',
    '',
    'settings, lowest to highest precedence: defaults, --config FILE (TOML), SYNC_* environment',
    'variables, flags (serve --port/--host/--database-url/--public-url). A TOML key is a variable in',
    'capitals with __ between levels: [syncstorage] database_url = SYNC_SYNCSTORAGE__DATABASE_URL.',
    'The ones people set:',
    '  port, host                       where to listen (8000, 127.0.0.1)',
    '  public_url                       the URL Firefox uses (behind a proxy: the proxy\'s)',
    '  syncstorage.database_url         sqlite:///relative.db, sqlite:////absolute.db, postgres://…, mysql://…',
    '  master_secret                    32+ random characters (openssl rand -hex 32); required with PostgreSQL/MySQL',
    '  tokenserver.allowed_fxa_uids     only these Firefox Accounts may sync (a refused sign-in logs its uid)',
    '  tokenserver.allow_new_users      false: only accounts that synced before',
    '  log_level, human_logs, log_requests   debug|info|warn|error; text or JSON lines; request lines',
    '`syncserver config` lists every setting with its value and source; `syncserver doctor` checks them.',
    'Exit codes: 0 ok, 1 failure, 2 usage error.',
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
  // Only a server waits until it is interactive (serve.ts); a long copy or purge is not start-up.
  if (command !== serveCommand) normalJitPolicy()
  const args = named === undefined ? argv : rest
  if (named === undefined && first !== undefined && !first.startsWith('--')) {
    console.error(`syncserver: unknown command "${first}"\n\n${usage()}`)
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
      console.error(`syncserver: ${error.message}\n\n${commandHelp(command)}`)
      return 2
    }
    console.error(`syncserver: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
