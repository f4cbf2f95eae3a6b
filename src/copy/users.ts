import type { StorageKeying, StoredUser, TokenserverCopyEndpoint } from '../db/copy-types.ts'
import type { StorageUser } from '../db/types.ts'
import { storageUserOf } from '../tokenserver/fxa-kid.ts'

/** A storage user that has no counterpart on the other side, and why. */
export interface UnmappedUser {
  user: string
  reason: string
}

/** How a user is named in messages: by the key its storage uses. */
export const describeUser = (user: StorageUser, keying: StorageKeying): string =>
  keying === 'uid' ? `uid ${user.uid}` : `fxa_uid ${user.fxaUid} fxa_kid ${user.fxaKid}`

/**
 * Of the rows that give one (fxa_uid, fxa_kid), the one whose storage that key holds: the
 * current row, else the newest. Several rows share a key when a user was moved to another node
 * without a key change; on a uid-keyed engine only the current one is reachable with a token.
 */
function owner(rows: StoredUser[], fxaKid: string): StoredUser | undefined {
  const matching = rows.filter((row) => {
    try {
      return storageUserOf(row).fxaKid === fxaKid
    } catch {
      return false
    }
  })
  return matching.find((row) => row.replacedAt === null) ?? matching.at(-1)
}

/**
 * Maps a storage user from one engine's key to another's through the tokenserver tables: the
 * SQL engines key storage by the tokenserver uid, Spanner by the token's fxa_uid and fxa_kid,
 * which are derived from the uid's row (email, keys_changed_at or generation, client_state).
 * One lookup per user, so memory stays flat whatever the number of users.
 */
export class UserMap {
  constructor(
    private readonly tokens: TokenserverCopyEndpoint,
    private readonly from: StorageKeying,
    private readonly to: StorageKeying,
  ) {}

  /** The user's key on the other side, or why there is none. */
  async map(user: StorageUser): Promise<StorageUser | UnmappedUser> {
    if (this.from === this.to) return user
    const named = describeUser(user, this.from)
    if (this.from === 'fxa') {
      const row = owner(await this.tokens.usersOfAccount(user.fxaUid), user.fxaKid)
      if (row === undefined) return { user: named, reason: 'no tokenserver user has this fxa_uid and fxa_kid' }
      return { ...user, uid: row.uid }
    }
    const [row] = await this.tokens.usersAfter(user.uid - 1, 1)
    if (row?.uid !== user.uid) return { user: named, reason: 'no tokenserver user has this uid' }
    let key: StorageUser
    try {
      key = storageUserOf(row)
    } catch {
      return { user: named, reason: `the tokenserver row's client_state "${row.clientState}" is not hex` }
    }
    const current = owner(await this.tokens.usersOfAccount(key.fxaUid), key.fxaKid)
    if (current !== undefined && current.uid !== user.uid) {
      return { user: named, reason: `uid ${current.uid} has the same fxa_uid and fxa_kid and is the current row: its storage is the one copied` }
    }
    return key
  }
}

export const isUnmapped = (value: StorageUser | UnmappedUser): value is UnmappedUser => 'reason' in value
