/**
 * Drives a real headless firefox-esr as a Sync client through Marionette (chrome context).
 * Facts this relies on are in /work/shared/firefox-e2e.md §§2-3.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Marionette } from './marionette.ts'
import type { Account } from './mock-fxa.ts'

export interface LaunchOptions {
  profileDir: string
  marionettePort: number
  /** Origin of the mock FxA, without trailing slash. */
  fxaUrl: string
  /** Full tokenserver URL, e.g. `http://127.0.0.1:8000/1.0/sync/1.5`. */
  tokenserverUri: string
  /** Label used in console output and error messages. */
  name?: string
  binary?: string
}

export interface Bookmark {
  guid: string
  title: string
  url: string
  parentGuid: string
}

export type BookmarkParent = 'menu' | 'toolbar' | 'unfiled'

export interface SyncReport {
  service: string
  sync: string
  login: string
  engines: Record<string, string>
  /** One line per `weave:*:error` notification seen during the sync. */
  errors: string[]
}

export interface LogFile {
  name: string
  text: string
}

export interface Firefox {
  name: string
  /** e.g. `153.7.0`, from the Marionette session capabilities. */
  version: string
  client: Marionette
  signIn(account: Account): Promise<void>
  sync(): Promise<SyncReport>
  addBookmark(bookmark: { title: string; url: string; parent?: BookmarkParent }): Promise<Bookmark>
  listBookmarks(): Promise<Bookmark[]>
  deleteBookmark(guid: string): Promise<void>
  /** Adds `count` pages, one visit each, at `${urlPrefix}<i>`. */
  addHistory(count: number, urlPrefix: string): Promise<void>
  /** Pages with at least one visit whose URL starts with `urlPrefix`. */
  countHistory(urlPrefix: string): Promise<number>
  quit(): Promise<void>
  /** The profile's weave/logs files plus Firefox's console output, for failure reports. */
  logs(): LogFile[]
}

const SYNC_OK = 'success.status_ok'
const SCRIPT_TIMEOUT_MS = 150_000

/** `firefox-esr` on PATH, or undefined when it is not installed. */
export function findFirefox(): string | undefined {
  return Bun.which('firefox-esr') ?? undefined
}

/** `Mozilla Firefox 153.7.0esr`, as the binary reports itself. */
export function firefoxVersion(binary: string): string {
  return Bun.spawnSync([binary, '--version']).stdout.toString().trim()
}

function userPrefs(options: Pick<LaunchOptions, 'fxaUrl' | 'marionettePort' | 'tokenserverUri'>): Record<string, string | number | boolean> {
  const { fxaUrl, marionettePort, tokenserverUri } = options
  return {
    // Pinned in user.js so Marionette's recommended prefs cannot replace the FxA server with a dummy.
    'identity.fxaccounts.auth.uri': `${fxaUrl}/v1`,
    'identity.fxaccounts.remote.profile.uri': `${fxaUrl}/profile/v1`,
    'identity.fxaccounts.remote.oauth.uri': `${fxaUrl}/v1`,
    'identity.fxaccounts.remote.root': `${fxaUrl}/`,
    'identity.fxaccounts.remote.pairing.uri': `${fxaUrl.replace(/^http/, 'ws')}/pairing`,
    'identity.fxaccounts.autoconfig.uri': '',
    'identity.fxaccounts.allowHttp': true,
    'identity.sync.tokenserver.uri': tokenserverUri,
    'marionette.port': marionettePort,
    'identity.fxaccounts.loglevel': 'Debug',
    'services.sync.log.logger': 'Debug',
    'services.sync.log.appender.dump': 'Debug',
    'services.sync.log.appender.file.logOnSuccess': true,
    'services.sync.log.appender.file.logOnError': true,
    'services.common.log.logger.tokenserverclient': 'Debug',
    'browser.dom.window.dump.enabled': true,
    // Background services would only try to reach the internet; keep the logs about Sync.
    'dom.push.connection.enabled': false,
    'toolkit.telemetry.enabled': false,
    'toolkit.telemetry.unified': false,
    'datareporting.healthreport.uploadEnabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'app.update.disabledForTesting': true,
    'browser.shell.checkDefaultBrowser': false,
    'browser.startup.homepage_override.mstone': 'ignore',
    'browser.startup.page': 0,
    'browser.aboutwelcome.enabled': false,
    'extensions.update.enabled': false,
    'browser.safebrowsing.update.enabled': false,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
  }
}

function writeUserJs(profileDir: string, prefs: Record<string, string | number | boolean>): void {
  const lines = Object.entries(prefs).map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});`)
  writeFileSync(join(profileDir, 'user.js'), `${lines.join('\n')}\n`)
}

function readLogs(profileDir: string, consolePath: string): LogFile[] {
  const dir = join(profileDir, 'weave', 'logs')
  const weave = existsSync(dir)
    ? readdirSync(dir)
        .sort()
        .map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }))
    : []
  const output = existsSync(consolePath) ? [{ name: 'console.log', text: readFileSync(consolePath, 'utf8') }] : []
  return [...weave, ...output]
}

const IMPORT_WEAVE = 'const { Weave } = ChromeUtils.importESModule("resource://services-sync/main.sys.mjs");'
const IMPORT_PLACES = 'const { PlacesUtils } = ChromeUtils.importESModule("resource://gre/modules/PlacesUtils.sys.mjs");'

const SIGN_IN = `
const [user] = arguments;
const { getFxAccountsSingleton } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
${IMPORT_WEAVE}
return (async () => {
  // Private API (works in 153esr); pre-seeding signedInUser.json is the documented fallback.
  await getFxAccountsSingleton()._internal.setSignedInUser(user);
  await Weave.Service.configure();
})();`

/**
 * Weave.Service.sync() silently does nothing when another sync (sign-in, score-triggered) holds the
 * lock, so: wait for the lock, count sync:start notifications, retry once if ours did not start,
 * then wait until nothing runs and report Weave.Status plus every error notification.
 */
const SYNC = `
const [timeoutMs] = arguments;
${IMPORT_WEAVE}
const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const describe = (subject) => {
  const e = subject?.wrappedJSObject?.object ?? subject;
  if (e == null) return String(e);
  if (e.message) return String(e.message);
  if (e.status) return "HTTP " + e.status + " " + (e.url ?? "");
  try { return JSON.stringify(e); } catch { return String(e); }
};
return (async () => {
  const errors = [];
  let starts = 0;
  const topics = {
    "weave:service:sync:start": () => starts++,
    "weave:service:sync:error": (subject) => errors.push("sync: " + describe(subject)),
    "weave:service:login:error": (subject) => errors.push("login: " + describe(subject)),
    "weave:engine:sync:error": (subject, engine) => errors.push(engine + ": " + describe(subject)),
  };
  const observer = { observe: (subject, topic, data) => topics[topic](subject, data) };
  const deadline = Date.now() + timeoutMs;
  const idle = async () => {
    while (Weave.Service.locked) {
      if (Date.now() > deadline) throw new Error("a sync held the lock for longer than " + timeoutMs + " ms");
      await sleep(100);
    }
  };
  for (const topic of Object.keys(topics)) Services.obs.addObserver(observer, topic);
  try {
    for (let attempt = 0; attempt < 2 && starts === 0; attempt++) {
      await idle();
      await Weave.Service.sync({ why: "user" });
    }
    await idle();
  } finally {
    for (const topic of Object.keys(topics)) Services.obs.removeObserver(observer, topic);
  }
  if (starts === 0) errors.push("no sync started (lock never free, or login failed)");
  const status = Weave.Status;
  return { service: status.service, sync: status.sync, login: status.login, engines: { ...status.engines }, errors };
})();`

const PARENTS = `const parents = { menu: PlacesUtils.bookmarks.menuGuid, toolbar: PlacesUtils.bookmarks.toolbarGuid, unfiled: PlacesUtils.bookmarks.unfiledGuid };`

const ADD_BOOKMARK = `
const [title, url, parent] = arguments;
${IMPORT_PLACES}
${PARENTS}
return PlacesUtils.bookmarks
  .insert({ parentGuid: parents[parent], url, title })
  .then((b) => ({ guid: b.guid, title: b.title, url: b.url.href, parentGuid: b.parentGuid }));`

const LIST_BOOKMARKS = `
${IMPORT_PLACES}
const flatten = (node, parentGuid, out) => {
  if (node.uri) out.push({ guid: node.guid, title: node.title ?? "", url: node.uri, parentGuid });
  for (const child of node.children ?? []) flatten(child, node.guid, out);
  return out;
};
return PlacesUtils.promiseBookmarksTree(PlacesUtils.bookmarks.rootGuid).then((root) => flatten(root, "", []));`

const DELETE_BOOKMARK = `
const [guid] = arguments;
${IMPORT_PLACES}
return PlacesUtils.bookmarks.remove(guid).then(() => null);`

const ADD_HISTORY = `
const [count, urlPrefix] = arguments;
${IMPORT_PLACES}
const now = Date.now();
const places = Array.from({ length: count }, (_, i) => ({
  url: urlPrefix + i,
  title: "e2e visit " + i,
  visits: [{ date: new Date(now - i * 1000), transition: PlacesUtils.history.TRANSITIONS.TYPED }],
}));
return PlacesUtils.history.insertMany(places).then(() => null);`

const COUNT_HISTORY = `
const [urlPrefix] = arguments;
${IMPORT_PLACES}
return PlacesUtils.promiseDBConnection().then(async (db) => {
  const rows = await db.execute(
    "SELECT COUNT(*) AS n FROM moz_places p WHERE substr(p.url, 1, length(:prefix)) = :prefix " +
      "AND EXISTS (SELECT 1 FROM moz_historyvisits v WHERE v.place_id = p.id)",
    { prefix: urlPrefix }
  );
  return rows[0].getResultByName("n");
});`

function checkSync(name: string, report: SyncReport): SyncReport {
  const failedEngines = Object.entries(report.engines).filter(([, status]) => status !== 'success.engine')
  if (report.service === SYNC_OK && report.errors.length === 0 && failedEngines.length === 0) return report
  throw new Error(`[firefox ${name}] sync failed: ${JSON.stringify(report)}`)
}

async function waitForExit(child: Bun.Subprocess, ms: number): Promise<void> {
  const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(ms).then(() => false)])
  if (!exited) {
    child.kill('SIGKILL')
    await child.exited
  }
}

/** Firefox with stdout and stderr (Sync's dump appender included) appended to one file. */
function spawnFirefox(binary: string, profileDir: string, consolePath: string): Bun.Subprocess {
  const output = openSync(consolePath, 'a')
  try {
    return Bun.spawn(
      [binary, '--headless', '--marionette', '-remote-allow-system-access', '--no-remote', '--profile', profileDir, 'about:blank'],
      { stdout: output, stderr: output, env: { ...Bun.env, MOZ_CRASHREPORTER_DISABLE: '1' } },
    )
  } finally {
    closeSync(output)
  }
}

/** Marionette session in chrome context, where Sync, FxA and Places modules can be imported. */
async function connectChrome(port: number): Promise<{ client: Marionette; version: string }> {
  const client = await Marionette.connect(port, 60_000)
  const { capabilities } = await client.newSession()
  await client.setContext('chrome')
  await client.setScriptTimeout(SCRIPT_TIMEOUT_MS)
  return { client, version: capabilities.browserVersion }
}

/**
 * Starts headless firefox-esr on a fresh (or existing) profile and connects Marionette in chrome context.
 *
 * @example
 * const fx = await launchFirefox({ profileDir, marionettePort: 2828, fxaUrl: fxa.url, tokenserverUri })
 * await fx.signIn(account)
 * await fx.sync()
 */
export async function launchFirefox(options: LaunchOptions): Promise<Firefox> {
  const name = options.name ?? 'firefox'
  const binary = options.binary ?? findFirefox()
  if (!binary) throw new Error('firefox-esr is not installed')
  mkdirSync(options.profileDir, { recursive: true })
  writeUserJs(options.profileDir, userPrefs(options))
  const consolePath = join(options.profileDir, 'console.log')
  const child = spawnFirefox(binary, options.profileDir, consolePath)

  let session: { client: Marionette; version: string }
  try {
    session = await connectChrome(options.marionettePort)
  } catch (error) {
    child.kill('SIGKILL')
    const output = readLogs(options.profileDir, consolePath).map((log) => log.text).join('\n')
    throw new Error(`[firefox ${name}] did not start: ${String(error)}\n${output.slice(-4000)}`)
  }
  const { client, version } = session
  console.log(`[firefox ${name}] Firefox ${version}, marionette :${options.marionettePort}, profile ${options.profileDir}`)

  const run = <T>(script: string, ...args: unknown[]): Promise<T> => client.executeScript<T>(script, args)
  let quitting: Promise<void> | undefined

  return {
    name,
    version,
    client,
    signIn: (account) =>
      run(SIGN_IN, {
        uid: account.uid,
        email: account.email,
        sessionToken: account.sessionToken,
        verified: true,
        scopedKeys: account.scopedKeys,
      }),
    sync: async () => checkSync(name, await run<SyncReport>(SYNC, SCRIPT_TIMEOUT_MS - 10_000)),
    addBookmark: ({ title, url, parent = 'toolbar' }) => run(ADD_BOOKMARK, title, url, parent),
    listBookmarks: () => run(LIST_BOOKMARKS),
    deleteBookmark: (guid) => run(DELETE_BOOKMARK, guid),
    addHistory: (count, urlPrefix) => run(ADD_HISTORY, count, urlPrefix),
    countHistory: (urlPrefix) => run(COUNT_HISTORY, urlPrefix),
    quit: () => (quitting ??= client.quit().then(() => waitForExit(child, 15_000))),
    logs: () => readLogs(options.profileDir, consolePath),
  }
}
