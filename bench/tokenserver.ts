import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { compactVerify, importJWK } from 'jose'
import { mintToken } from '../src/auth/token.ts'
import { poolFor } from './http1.ts'
import { runLoad, type Operation } from './load.ts'

const OLDSYNC_SCOPE = 'https://identity.mozilla.com/apps/oldsync'
const TOKEN_PATH = '/1.0/sync/1.5'

/**
 * An FxA stand-in that never answers the network: an RSA key whose public half the server is
 * configured with (SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__*), so every access token verifies
 * locally, as production tokens do against FxA's published key.
 */
export interface FakeAccounts {
  env: Record<string, string>
  publicKey: KeyObject
  kid: string
  /** One account per simulated profile: its bearer token and X-KeyID. */
  accounts(count: number): BenchAccount[]
}

export interface BenchAccount {
  bearer: string
  keyId: string
  fxaUid: string
}

export function fakeAccounts(): FakeAccounts {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; n: string; e: string }
  const kid = `${Date.now()}-bench`
  const prefix = 'SYNC_TOKENSERVER__FXA_OAUTH_PRIMARY_JWK__'
  return {
    env: {
      SYNC_TOKENSERVER__ENABLED: 'true',
      [`${prefix}KTY`]: jwk.kty,
      [`${prefix}N`]: jwk.n,
      [`${prefix}E`]: jwk.e,
      [`${prefix}KID`]: kid,
      [`${prefix}ALG`]: 'RS256',
      [`${prefix}USE`]: 'sig',
    },
    publicKey,
    kid,
    accounts: (count) => Array.from({ length: count }, () => account(privateKey, kid)),
  }
}

/**
 * An access token as FxA issues it (RS256, `typ: at+jwt`) and the X-KeyID Firefox sends with it:
 * `<keys_changed_at in ms, 13 digits>-<16-byte client state, 22 base64url chars>`. Signed once per
 * profile up front: a client reuses its token for its whole lifetime, and RSA signing in the load
 * generator would take CPU from the server being measured.
 */
function account(privateKey: KeyObject, kid: string): BenchAccount {
  const fxaUid = randomBytes(16).toString('hex')
  const keysChangedAt = Date.now() - 86_400_000
  const now = Math.floor(Date.now() / 1000)
  const header = { alg: 'RS256', typ: 'at+jwt', kid }
  const claims = {
    sub: fxaUid,
    scope: OLDSYNC_SCOPE,
    client_id: '5882386c6d801776',
    iat: now,
    exp: now + 86_400,
    'fxa-generation': keysChangedAt,
  }
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
  const signature = sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')
  return {
    bearer: `${signingInput}.${signature}`,
    keyId: `${keysChangedAt}-${randomBytes(16).toString('base64url')}`,
    fxaUid,
  }
}

const b64url = (text: string) => Buffer.from(text).toString('base64url')

/** Over the raw keep-alive client, like the storage requests, so the generator stays light. */
const tokenRequest = (serverUrl: string, account: BenchAccount, keepBody = false) =>
  poolFor(serverUrl).request('GET', TOKEN_PATH, `authorization: Bearer ${account.bearer}\r\nx-keyid: ${account.keyId}\r\n`, undefined, keepBody)

/**
 * `GET /1.0/sync/1.5` for a population of accounts. Every account's first request creates its
 * user and is not measured: the operation answered is what Firefox does hourly, an existing
 * user fetching a token. A 404 means the server has no tokenserver routes: "not available".
 */
export async function prepareTokenserver(
  server: { url: string },
  accounts: readonly BenchAccount[],
  concurrency: number,
): Promise<{ available: false; reason: string } | { available: true; operation: Operation }> {
  const probe = await tokenRequest(server.url, accounts[0] as BenchAccount, true)
  const body = new TextDecoder().decode(probe.body)
  if (probe.status === 404) return { available: false, reason: `GET ${TOKEN_PATH} answered 404` }
  if (probe.status !== 200) return { available: false, reason: `GET ${TOKEN_PATH} answered ${probe.status}: ${body.slice(0, 160)}` }
  let next = 0
  const operation: Operation = async () => (await tokenRequest(server.url, accounts[next++ % accounts.length] as BenchAccount)).status
  await runLoad({ concurrency, maxOps: accounts.length, maxMs: 60_000 }, operation)
  return { available: true, operation }
}

/**
 * The tokenserver's own ceiling: the cryptography every token request needs (RS256 verification
 * with jose, as the server does, then minting the token: HMAC + HKDF), in-process, no HTTP, no DB.
 */
export async function tokenCryptoOperation(accounts: readonly BenchAccount[], publicKey: KeyObject): Promise<Operation> {
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  const key = await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256')
  const secret = randomBytes(32).toString('hex')
  let next = 0
  return async () => {
    const account = accounts[next++ % accounts.length] as BenchAccount
    const { payload } = await compactVerify(account.bearer, key, { algorithms: ['RS256'] })
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { sub: string }
    mintToken(secret, {
      uid: next,
      node: 'http://127.0.0.1',
      expires: Math.floor(Date.now() / 1000) + 3600,
      fxa_uid: claims.sub,
      fxa_kid: account.keyId,
    })
    return 200
  }
}
