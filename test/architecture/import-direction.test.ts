import { describe, expect, test } from 'bun:test'
import { Glob } from 'bun'
import { dirname, join, normalize, relative } from 'node:path'

/**
 * The folder tree is the architecture, so the direction of imports between folders is checked:
 * the HTTP kit knows nothing of the APIs built on it, engines never see HTTP, and the wire
 * timestamp format is a leaf everyone may share. Test files are exempt (they wire things up).
 */
const ROOT = join(import.meta.dir, '..', '..')

interface Rule {
  /** Source files this rule governs, as a path prefix under the repository root. */
  from: string
  /** Path prefixes those files must not import. */
  forbidden: readonly string[]
  why: string
}

const ENTRY_POINTS = ['src/app.ts', 'src/server.ts', 'src/main.ts', 'src/cli/']
const OUTSIDE_SRC = ['test/', 'bench/', 'scripts/']

const RULES: readonly Rule[] = [
  {
    from: 'src/http/',
    forbidden: ['src/storage/', 'src/tokenserver/', ...ENTRY_POINTS],
    why: 'the HTTP kit (errors, middleware, env) serves the APIs and must not depend on them',
  },
  {
    from: 'src/db/',
    forbidden: ['src/http/', 'src/storage/', 'src/tokenserver/', 'src/auth/', ...ENTRY_POINTS],
    why: 'backends never parse HTTP nor know the API built on them',
  },
  { from: 'src/storage/', forbidden: ['src/tokenserver/', ...ENTRY_POINTS], why: 'the storage API stands alone' },
  { from: 'src/tokenserver/', forbidden: ['src/storage/', ...ENTRY_POINTS], why: 'the tokenserver stands alone' },
  {
    from: 'src/auth/',
    forbidden: ['src/http/', 'src/storage/', 'src/tokenserver/', 'src/db/', ...ENTRY_POINTS],
    why: 'signing and verifying is independent of transport and storage',
  },
  { from: 'src/config/', forbidden: ['src/http/', 'src/storage/', 'src/tokenserver/', ...ENTRY_POINTS], why: 'settings are read before anything runs' },
  { from: 'src/wire-timestamp.ts', forbidden: ['src/', 'test/', 'bench/'], why: 'the wire timestamp format is a leaf module' },
  { from: 'src/', forbidden: OUTSIDE_SRC, why: 'the product never depends on its tests or tools' },
]

const transpiler = new Bun.Transpiler({ loader: 'ts' })

/** Repository-relative paths of the project files `file` imports (packages are ignored). */
function localImports(file: string, source: string): string[] {
  // The scanner parses modules, not scripts: a shebang line is not TypeScript.
  return transpiler
    .scanImports(source.replace(/^#!.*/, ''))
    .map((entry) => entry.path)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => normalize(join(dirname(file), specifier)))
}

/** Each import of `file` that breaks a rule, as a readable line. */
function violations(file: string, imports: readonly string[], rules: readonly Rule[] = RULES): string[] {
  const found: string[] = []
  for (const rule of rules) {
    if (!file.startsWith(rule.from)) continue
    for (const target of imports) {
      if (target === file) continue
      const hit = rule.forbidden.find((prefix) => target.startsWith(prefix))
      if (hit !== undefined) found.push(`${file} imports ${target}: ${rule.why}`)
    }
  }
  return found
}

describe('import direction', () => {
  test('the checker reports an import in the wrong direction', () => {
    expect(violations('src/http/errors.ts', ['src/storage/api.ts'])).toHaveLength(1)
    expect(violations('src/db/sqlite/storage.ts', ['src/http/env.ts'])).toHaveLength(1)
    expect(violations('src/wire-timestamp.ts', ['src/db/timestamps.ts'])).toHaveLength(1)
    expect(violations('src/storage/api.ts', ['src/http/env.ts', 'src/db/types.ts'])).toEqual([])
    expect(localImports('src/http/a.ts', "import { x } from '../storage/b.ts'; await import('./c.ts')")).toEqual([
      'src/storage/b.ts',
      'src/http/c.ts',
    ])
  })

  test('every source file imports only in the allowed directions', async () => {
    const found: string[] = []
    let checked = 0
    for await (const path of new Glob('src/**/*.ts').scan(ROOT)) {
      const file = relative(ROOT, join(ROOT, path))
      if (file.endsWith('.test.ts')) continue
      checked++
      found.push(...violations(file, localImports(file, await Bun.file(join(ROOT, file)).text())))
    }
    expect(checked).toBeGreaterThan(50)
    expect(found).toEqual([])
  })
})
