import { SyncError } from '../errors.ts'
import type { TokenserverConfig } from './settings.ts'

/** Who is asking, as far as the allow-list can tell. */
export interface AccountIdentity {
  fxaUid: string
  /** `<fxa_uid>@<fxa_email_domain>`, the key of the user's rows. */
  email: string
  /** The real address, when FxA put one in the token (it usually does not). */
  claimedEmail: string | null
}

/**
 * Our access control beyond `allow_new_users`: when `allowed_emails` or `allowed_fxa_uids` lists
 * anything, only accounts on a list get tokens. An account matches by FxA uid, by its derived
 * email, or by an email claim FxA signed; emails compare case-insensitively.
 * @throws SyncError('accountNotAllowed')
 */
export function checkAccountAllowed(
  account: AccountIdentity,
  config: Pick<TokenserverConfig, 'allowed_emails' | 'allowed_fxa_uids'>,
): void {
  if (config.allowed_emails.length === 0 && config.allowed_fxa_uids.length === 0) return
  const uids = new Set(config.allowed_fxa_uids.map((uid) => uid.toLowerCase()))
  const emails = new Set(config.allowed_emails.map((email) => email.toLowerCase()))
  const candidates = [account.email, account.claimedEmail].filter((email) => email !== null)
  if (uids.has(account.fxaUid.toLowerCase()) || candidates.some((email) => emails.has(email.toLowerCase()))) return
  throw new SyncError('accountNotAllowed', 'account is not on the allow-list')
}

/**
 * The log line for a refused sign-in: the account's FxA uid (the one thing an operator can put
 * on the allow-list; FxA tokens rarely carry an email) and the exact setting that would let it
 * in, in both the TOML and the environment spelling.
 */
export function refusalNotice(
  error: unknown,
  fxaUid: string,
  config: Pick<TokenserverConfig, 'allowed_emails' | 'allowed_fxa_uids' | 'allow_new_users'>,
): { message: string; fields: Record<string, string> } | undefined {
  if (!(error instanceof SyncError)) return undefined
  if (error.kind === 'accountNotAllowed') {
    const uids = [...config.allowed_fxa_uids, fxaUid]
    return {
      message: `sign-in refused: Firefox Account ${fxaUid} is not on the allow-list`,
      fields: {
        fxa_uid: fxaUid,
        to_allow: `[tokenserver] allowed_fxa_uids = [${uids.map((uid) => JSON.stringify(uid)).join(', ')}]  or  SYNC_TOKENSERVER__ALLOWED_FXA_UIDS=${uids.join(',')}`,
      },
    }
  }
  if (error.kind === 'newUsersDisabled') {
    return {
      message: `sign-in refused: Firefox Account ${fxaUid} is new and allow_new_users is false`,
      fields: {
        fxa_uid: fxaUid,
        to_allow: 'set [tokenserver] allow_new_users = true (SYNC_TOKENSERVER__ALLOW_NEW_USERS=true) until the account has synced once',
      },
    }
  }
  return undefined
}
