import { openingDatabase } from '../config/database-errors.ts'
import type { Settings } from '../config/settings.ts'
import { openStorage } from '../db/open.ts'
import { spannerOptions } from '../db/spanner/settings.ts'
import type { UserRecord } from '../db/tokenserver-types.ts'
import type { StorageBackend, StorageUser } from '../db/types.ts'
import { storageUserOf } from '../tokenserver/fxa-kid.ts'
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
  const usage = await storedData(context.settings, users)
  const rows = users.map((user) => userRow(user, usage.get(user.uid)))
  context.print(rows, () =>
    formatTable(
      ['uid', 'fxa_uid', 'node', 'last_seen', 'records', 'bytes', 'generation', 'keys_changed_at', 'client_state', 'created_at', 'replaced_at'],
      rows.map((row) => [
        String(row.uid),
        row.fxa_uid,
        row.node ?? '(node gone)',
        time(row.last_seen),
        String(row.records ?? '-'),
        String(row.bytes ?? '-'),
        String(row.generation),
        String(row.keys_changed_at ?? '-'),
        row.client_state || '-',
        time(row.created_at),
        time(row.replaced_at),
      ]),
    ),
  )
  return 0
}

const time = (ms: bigint | number | null | undefined) => (ms === null || ms === undefined ? '-' : new Date(Number(ms)).toISOString())

interface StoredData {
  /** The user's last write (storage timestamp), ms. */
  lastSeen: number | null
  records: number
  bytes: number
}

/** A user as printed: the table's columns are the JSON keys, in the database's naming. */
function userRow(user: UserRecord, stored: StoredData | undefined) {
  return {
    uid: user.uid,
    fxa_uid: user.email.slice(0, user.email.indexOf('@')),
    email: user.email,
    node: user.node,
    last_seen: stored?.lastSeen ?? null,
    records: stored?.records ?? null,
    bytes: stored?.bytes ?? null,
    generation: user.generation,
    keys_changed_at: user.keysChangedAt,
    client_state: user.clientState,
    created_at: user.createdAt,
    replaced_at: user.replacedAt,
  }
}

/**
 * What each current user keeps in this server's storage database. Users on other nodes, or a
 * storage database this command cannot open (a tokenserver-only host), show nothing; so does a
 * row whose client state is not hex, whose Spanner key cannot be derived.
 */
async function storedData(settings: Settings, users: readonly UserRecord[]): Promise<Map<number, StoredData>> {
  const result = new Map<number, StoredData>()
  const current = users.filter((user) => user.replacedAt === null)
  if (!settings.syncstorage.enabled || current.length === 0) return result
  const storage = await openConfiguredStorage(settings)
  try {
    for (const user of current) {
      const owner = storageKey(user)
      if (owner === undefined) continue
      const data = await storage.withTransaction({ user: owner, mode: 'read' }, async (tx) => ({
        lastSeen: (await tx.storageTimestamp()) || null,
        records: [...(await tx.collectionCounts()).values()].reduce((sum, count) => sum + count, 0),
        bytes: await tx.storageUsage(),
      }))
      result.set(user.uid, data)
    }
  } finally {
    await storage.close()
  }
  return result
}

/** The row's storage key on every engine (uid; fxa_uid and fxa_kid), or undefined for a row without one. */
function storageKey(user: UserRecord): StorageUser | undefined {
  try {
    return storageUserOf(user)
  } catch {
    return undefined
  }
}

/** The storage database as `serve` opens it (a Spanner one with its emulator and routing settings). */
function openConfiguredStorage(settings: Settings): Promise<StorageBackend> {
  const { syncstorage } = settings
  return openingDatabase('syncstorage.database_url', syncstorage.database_url, () =>
    openStorage(syncstorage.database_url, { runMigrations: syncstorage.run_migrations, spanner: spannerOptions(syncstorage) }),
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
  const owners = rows.map((row) => {
    const owner = storageKey(row)
    if (owner === undefined) throw new AdminError(`uid ${row.uid} has client_state "${row.clientState}", which is not hex: its storage key cannot be derived`)
    return owner
  })
  const storage = await openConfiguredStorage(context.settings)
  try {
    for (const owner of owners) await storage.withTransaction({ user: owner, mode: 'wipe' }, (tx) => tx.deleteStorage())
  } finally {
    await storage.close()
  }
  await context.db.replaceUsers({ service: context.service, email, replacedAt: BigInt(Date.now()) })
  context.print({ email, uids }, () => `deleted the stored data of ${email} (uids ${uids.join(', ')}); its next sync gets a new uid`)
  return 0
}
