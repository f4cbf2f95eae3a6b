import type { Settings } from '../config/settings.ts'
import { openStorage } from '../db/open.ts'
import type { UserRecord } from '../db/tokenserver-types.ts'
import { CONFIG_OPTION, UsageError, type Command, type CommandInput } from './command.ts'
import {
  AdminError,
  formatTable,
  JSON_OPTION,
  singleArgument,
  stringOption,
  runAdminCommand,
  type AdminContext,
} from './tokenserver-admin.ts'

const ACTIONS = ['list', 'delete-data'] as const

/**
 * `syncserver users list|delete-data`: the tokenserver's user rows, and wiping one account's
 * stored data so its next sync starts fresh on a new uid.
 */
export const usersCommand: Command = {
  name: 'users',
  summary: "list tokenserver users, or delete one account's stored sync data",
  args: 'list | delete-data <email-or-fxa-uid>',
  options: [
    CONFIG_OPTION,
    JSON_OPTION,
    { name: 'email', value: 'E', description: 'list only this user (email or FxA uid)' },
  ],
  run(input) {
    return runAdminCommand(input, ACTIONS, async (action, context) => {
      switch (action) {
        case 'list':
          return listUsers(context, input)
        case 'delete-data':
          return deleteData(context, input)
      }
    })
  },
}


/** Users are keyed by `<fxa_uid>@<fxa_email_domain>`; a bare FxA uid gets the domain appended. */
const userEmail = (settings: Settings, who: string): string =>
  who.includes('@') ? who : `${who}@${settings.tokenserver.fxa_email_domain}`

async function listUsers(context: AdminContext, input: CommandInput): Promise<number> {
  const who = stringOption(input, 'email')
  if (input.positionals.length > 1) throw new UsageError(`unexpected arguments: ${input.positionals.slice(1).join(' ')}`)
  const email = who === undefined ? undefined : userEmail(context.settings, who)
  const users = await context.db.listUsers({ service: context.service, email })
  context.print(users, () => userTable(users))
  return 0
}

function userTable(users: readonly UserRecord[]): string {
  const time = (ms: bigint | null) => (ms === null ? '-' : new Date(Number(ms)).toISOString())
  return formatTable(
    ['uid', 'email', 'generation', 'keys_changed_at', 'client_state', 'created_at', 'replaced_at', 'node'],
    users.map((user) => [
      String(user.uid),
      user.email,
      String(user.generation),
      String(user.keysChangedAt ?? '-'),
      user.clientState || '-',
      time(user.createdAt),
      time(user.replacedAt),
      user.node ?? `(missing node ${user.nodeId})`,
    ]),
  )
}

/**
 * Deletes the stored data of every uid the account has had, then marks its rows replaced: the
 * next token request allocates a new uid, and the client uploads afresh (tokenserver.md §12.3).
 */
async function deleteData(context: AdminContext, input: CommandInput): Promise<number> {
  const email = userEmail(context.settings, singleArgument(input, '<email-or-fxa-uid>'))
  const rows = await context.db.listUsers({ service: context.service, email })
  if (rows.length === 0) throw new AdminError(`no user ${email}; \`users list\` shows them`)
  const uids = [...new Set(rows.map((row) => row.uid))]
  const { syncstorage } = context.settings
  const storage = await openStorage(syncstorage.database_url, { runMigrations: syncstorage.run_migrations })
  try {
    for (const uid of uids) {
      await storage.withTransaction({ user: { uid, fxaUid: '', fxaKid: '' }, mode: 'wipe' }, (tx) => tx.deleteStorage())
    }
  } finally {
    await storage.close()
  }
  await context.db.replaceUsers({ service: context.service, email, replacedAt: BigInt(Date.now()) })
  context.print({ email, uids }, () => `deleted the stored data of ${email} (uids ${uids.join(', ')}); its next sync gets a new uid`)
  return 0
}
