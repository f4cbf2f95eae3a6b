/**
 * End-to-end: two real headless Firefox profiles sign in to a mock FxA, get tokens from our
 * tokenserver and sync through our storage server (the compiled binary), exactly as users would.
 *
 * Needs `firefox-esr` (apt) and `dist/syncserver` (`bun run build`); skips visibly otherwise.
 * SYNCSERVER_E2E_BIN points the suite at another server executable with the same SYNC_* contract.
 */
import { describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { findFirefox, firefoxVersion, launchFirefox, type Firefox } from '../support/firefox/firefox.ts'
import { startMockFxa, type Account, type MockFxa } from '../support/firefox/mock-fxa.ts'
import { findBatchUpload } from './request-log.ts'
import { freePorts, startSyncServer, type SyncServer } from './syncserver-process.ts'

const TEST_TIMEOUT_MS = 180_000
const SCENARIO_BUDGET_MS = TEST_TIMEOUT_MS - 20_000
const REPO = resolve(import.meta.dir, '../..')
const ARTIFACTS = join(REPO, 'test-artifacts', 'e2e')
const serverBinary = Bun.env.SYNCSERVER_E2E_BIN ?? join(REPO, 'dist', 'syncserver')
const firefoxBinary = findFirefox()

const skipReason = !firefoxBinary
  ? 'firefox-esr is not installed (apt-get install -y firefox-esr)'
  : !existsSync(serverBinary)
    ? `no server binary at ${serverBinary} (bun run build)`
    : undefined
if (skipReason) console.warn(`[e2e] real-Firefox sync tests skipped: ${skipReason}`)
else console.log(`[e2e] ${firefoxVersion(firefoxBinary!)}; server ${serverBinary}`)

interface Stack {
  fxa: MockFxa
  server: SyncServer
  account: Account
  a: Firefox
  b: Firefox
}

interface Parts {
  fxa?: MockFxa
  server?: SyncServer
  browsers: Firefox[]
}

function saveArtifacts(scenario: string, parts: Parts): string {
  const dir = join(ARTIFACTS, `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(dir, { recursive: true })
  if (parts.server) writeFileSync(join(dir, 'server.log'), parts.server.output())
  if (parts.fxa) writeFileSync(join(dir, 'mock-fxa-requests.json'), JSON.stringify(parts.fxa.requests(), null, 2))
  for (const browser of parts.browsers) {
    const browserDir = join(dir, `firefox-${browser.name}`)
    mkdirSync(browserDir, { recursive: true })
    for (const log of browser.logs()) writeFileSync(join(browserDir, log.name), log.text)
  }
  return dir
}

async function launchPair(root: string, fxa: MockFxa, server: SyncServer, parts: Parts): Promise<[Firefox, Firefox]> {
  const ports = await freePorts(2)
  const launch = async (name: string, marionettePort: number): Promise<Firefox> => {
    const browser = await launchFirefox({
      name,
      binary: firefoxBinary!,
      profileDir: join(root, `profile-${name}`),
      marionettePort,
      fxaUrl: fxa.url,
      tokenserverUri: server.tokenserverUri,
    })
    parts.browsers.push(browser)
    return browser
  }
  // allSettled: if one launch fails, the other must be registered for teardown before we throw.
  const [a, b] = await Promise.allSettled([launch('A', ports[0]!), launch('B', ports[1]!)])
  if (a.status === 'rejected') throw a.reason
  if (b.status === 'rejected') throw b.reason
  return [a.value, b.value]
}

async function runScenario(root: string, parts: Parts, options: { maxPostRecords?: number }, body: (stack: Stack) => Promise<void>): Promise<void> {
  const fxa = (parts.fxa = await startMockFxa())
  const server = (parts.server = await startSyncServer({ binary: serverBinary, dir: join(root, 'server'), fxaUrl: fxa.url, ...options }))
  const [a, b] = await launchPair(root, fxa, server, parts)
  await body({ fxa, server, account: fxa.createAccount(), a, b })
  if (fxa.unhandled().length) console.warn('[e2e] mock FxA had no route for', fxa.unhandled())
}

/** Fails before bun's own test timeout would, so a hang still gets its logs saved and its processes stopped. */
async function withinBudget(work: Promise<void>, ms: number): Promise<void> {
  let timer: Timer | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario still running after ${ms} ms`)), ms)
  })
  // Once the budget is spent, the abandoned work fails as teardown kills Firefox; that is expected.
  work.catch(() => undefined)
  try {
    await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Builds a fresh mock FxA, server and two Firefox profiles for one account, runs `body`, and always
 * tears everything down; on failure it first keeps every log under test-artifacts/e2e/.
 */
async function withStack(scenario: string, options: { maxPostRecords?: number }, body: (stack: Stack) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), `syncserver-e2e-${scenario}-`))
  const parts: Parts = { browsers: [] }
  try {
    await withinBudget(runScenario(root, parts, options, body), SCENARIO_BUDGET_MS)
  } catch (error) {
    console.error(`[e2e] ${scenario} failed; server output and Firefox sync logs kept in ${saveArtifacts(scenario, parts)}`)
    throw error
  } finally {
    await Promise.all(parts.browsers.map((browser) => browser.quit()))
    await parts.server?.stop()
    await parts.fxa?.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

/** A signs in and uploads first, so B's first sync finds an initialised server instead of racing A. */
async function signInBoth({ account, a, b }: Stack, betweenSyncs: () => Promise<void>): Promise<void> {
  await a.signIn(account)
  await a.sync()
  await betweenSyncs()
  await a.sync()
  await b.signIn(account)
  await b.sync()
}

const uniqueUrl = (label: string): string => `https://e2e.example.com/${label}/${randomBytes(4).toString('hex')}`

describe.skipIf(skipReason !== undefined)(`real Firefox syncs through dist/syncserver${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  test(
    'a bookmark created in A appears in B after A then B sync',
    () =>
      withStack('bookmark-add', {}, async (stack) => {
        const url = uniqueUrl('bookmark')
        let created = { guid: '', title: '', url: '' }
        await signInBoth(stack, async () => {
          created = await stack.a.addBookmark({ title: 'e2e bookmark', url })
        })
        const inB = await stack.b.listBookmarks()
        expect(inB.map((bookmark) => bookmark.url)).toContain(url)
        expect(inB.find((bookmark) => bookmark.url === url)).toMatchObject({ guid: created.guid, title: 'e2e bookmark' })
      }),
    TEST_TIMEOUT_MS,
  )

  test(
    'with max_post_records=50, 300 history visits upload through a 202 batch and all reach B',
    () =>
      withStack('history-batch', { maxPostRecords: 50 }, async (stack) => {
        const prefix = `${uniqueUrl('history')}/`
        await signInBoth(stack, () => stack.a.addHistory(300, prefix))
        const batch = findBatchUpload(stack.server.requests(), 'history')
        expect(batch, 'server log shows POST storage/history?batch=true → 202, later commit=true → 200').toBeDefined()
        expect(await stack.b.countHistory(prefix)).toBe(300)
      }),
    TEST_TIMEOUT_MS,
  )

  test(
    'a bookmark deleted in A disappears from B',
    () =>
      withStack('bookmark-delete', {}, async (stack) => {
        const url = uniqueUrl('deleted')
        let guid = ''
        await signInBoth(stack, async () => {
          guid = (await stack.a.addBookmark({ title: 'e2e doomed bookmark', url })).guid
        })
        expect((await stack.b.listBookmarks()).map((bookmark) => bookmark.url)).toContain(url)

        await stack.a.deleteBookmark(guid)
        await stack.a.sync()
        await stack.b.sync()
        expect((await stack.b.listBookmarks()).map((bookmark) => bookmark.url)).not.toContain(url)
      }),
    TEST_TIMEOUT_MS,
  )
})
