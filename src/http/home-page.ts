import type { Hono } from 'hono'
import { VERSION } from '../version.ts'
import type { AppEnv } from './env.ts'

export interface HomePageFacts {
  /** The URL Firefox is told (public_url). */
  publicUrl: string
  /** `SQLite`, `PostgreSQL`, … — the engine only, never where the data is. */
  engine: string
  /** Whether this server hands out tokens (`identity.sync.tokenserver.uri` points here). */
  tokenserver: boolean
}

/**
 * `GET /` for a person with a browser: that the server runs, and how to point Firefox at it.
 * Nothing about users or the data, no secret. Programs (no `text/html` in Accept) keep the
 * reference's redirect to the API documentation.
 */
export function registerHomePage(app: Hono<AppEnv>, facts: HomePageFacts): void {
  app.get('/', async (c, next) => {
    if (!(c.req.header('accept') ?? '').includes('text/html')) return next()
    const seenAt = originSeen(c.req.raw.url, c.req.header('host'))
    return c.html(homePage(facts, seenAt), 200, { 'Cache-Control': 'no-store', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" })
  })
}

function originSeen(url: string, host: string | undefined): string {
  const scheme = url.startsWith('https:') ? 'https' : 'http'
  return host ? `${scheme}://${host}` : new URL(url).origin
}

export function homePage(facts: HomePageFacts, seenAt: string): string {
  const uri = `${facts.publicUrl}/1.0/sync/1.5`
  const elsewhere = sameOrigin(seenAt, facts.publicUrl)
    ? ''
    : `<p class="warn" id="address-warning">You opened this page at <code>${escape(seenAt)}</code>, but the server tells Firefox to use <code>${escape(facts.publicUrl)}</code>. If that address does not reach this server from your devices, set <code>public_url</code> (<code>SYNC_PUBLIC_URL</code>, or <code>--public-url</code>) to the URL they use, and restart.</p>`
  const steps = facts.tokenserver
    ? `<p>Firefox needs one setting: the address of this server's token service.</p>
<p class="value"><code id="tokenserver-uri">${escape(uri)}</code></p>
${elsewhere}
<h2>Firefox on a computer</h2>
<ol>
<li>If you are signed in to Sync, sign out first (menu → your account → Sign out).</li>
<li>Open <code>about:config</code> in the address bar and accept the warning.</li>
<li>Search for <code>identity.sync.tokenserver.uri</code> and set it to the value above.</li>
<li>Sign in to Sync with your Mozilla account as usual. Your account stays with Mozilla; your synced data comes here.</li>
</ol>
<h2>Firefox for Android</h2>
<ol>
<li>If you are signed in to Sync, sign out first (Settings → your account → Sign out).</li>
<li>Settings → About Firefox: tap the Firefox logo five times until it says the debug menu is enabled.</li>
<li>Back in Settings, open <b>Sync Debug</b> → <b>Custom Sync server</b> and enter the value above.</li>
<li>Close Firefox completely (swipe it away), open it again and sign in to Sync.</li>
</ol>`
    : `<p>This server stores Sync data for a separate token server (its tokenserver is disabled); point Firefox at that token server, not here.</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Firefox Sync server</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
code { background: #f0f0f4; padding: 0 .25em; border-radius: 3px; word-break: break-all; }
.value code { display: block; font-size: 1.15em; padding: .6em; }
.warn { background: #fff4de; border-left: 4px solid #d7a000; padding: .5em .8em; }
footer { margin-top: 2rem; color: #5b5b66; font-size: .9em; }
</style>
</head>
<body>
<h1 id="status">Your Firefox Sync server is running</h1>
<p>syncserver <span id="version">${escape(VERSION)}</span>, storing data in <span id="engine">${escape(facts.engine)}</span>.</p>
${steps}
<footer>Health: <a href="/__heartbeat__">/__heartbeat__</a> · Version: <a href="/__version__">/__version__</a></footer>
</body>
</html>
`
}

function sameOrigin(a: string, b: string): boolean {
  const [x, y] = [URL.parse(a), URL.parse(b)]
  return x !== null && y !== null && x.origin === y.origin
}

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string)
