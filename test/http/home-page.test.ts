import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VERSION } from '../../src/version.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

const CHROMIUM = Bun.which('chromium') ?? Bun.which('chromium-browser')
const TOKENSERVER_URI = 'https://sync.example.com/1.0/sync/1.5'

/** `GET /` for a person: the server runs, and how to point Firefox at it (issue 12). */
describe('the page at /', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncserver-home-'))
  const databaseUrl = `sqlite:///${join(dir, 'private-name.db')}`
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer(databaseUrl, { public_url: 'https://sync.example.com', tokenserver: { enabled: true } })
  })
  afterAll(() => server.stop())

  test('a browser gets a page with the version, the engine and the exact Firefox setting; no secret, no path', async () => {
    const response = await fetch(`${server.url}/`, { headers: { accept: 'text/html,application/xhtml+xml' } })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    const page = await response.text()
    expect(page).toContain('Your Firefox Sync server is running')
    expect(page).toContain(`<span id="version">${VERSION}</span>`)
    expect(page).toContain('<span id="engine">SQLite</span>')
    expect(page).toContain(`<code id="tokenserver-uri">${TOKENSERVER_URI}</code>`)
    expect(page).toContain('identity.sync.tokenserver.uri')
    expect(page).toContain('Sync Debug')
    expect(page).not.toContain(server.masterSecret)
    expect(page).not.toContain('private-name')
  })

  test('programs keep the reference redirect to the API documentation', async () => {
    const response = await fetch(`${server.url}/`, { redirect: 'manual' })
    expect(response.status).toBe(302)
  })

  test.skipIf(CHROMIUM === null)('headless Chromium renders it: status, Firefox value, and a warning when opened at another address', async () => {
    const browser = Bun.spawn(
      [CHROMIUM as string, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chromium-'))}`, '--dump-dom', `${server.url}/`],
      { stdout: 'pipe', stderr: 'ignore' },
    )
    const timer = setTimeout(() => browser.kill(), 60_000)
    const dom = await new Response(browser.stdout).text()
    clearTimeout(timer)
    expect(await browser.exited).toBe(0)
    const rendered = new HTMLRewriterText(dom)
    expect(await rendered.text('#status')).toBe('Your Firefox Sync server is running')
    expect(await rendered.text('#tokenserver-uri')).toBe(TOKENSERVER_URI)
    expect(await rendered.text('#version')).toBe(VERSION)
    expect(await rendered.text('#address-warning')).toContain('set public_url')
  }, 90_000)
})

/** The text of the first element matching a selector, read with Bun's HTMLRewriter. */
class HTMLRewriterText {
  constructor(private readonly html: string) {}

  async text(selector: string): Promise<string> {
    let text = ''
    let depth = 0
    await new HTMLRewriter()
      .on(selector, {
        element(element) {
          depth++
          element.onEndTag(() => {
            depth++
          })
        },
        text(chunk) {
          if (depth === 1) text += chunk.text
        },
      })
      .transform(new Response(this.html))
      .text()
    return text.replace(/\s+/g, ' ').trim()
  }
}
