/**
 * Where a .cpuprofile's samples went during one time window (the measured load, not the
 * seeding before it): each sample is charged to the innermost frame of ours that it ran under
 * (a native call such as `Response` or a SQLite step counts for the code that called it).
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Components by source file, first match wins; a sample under none is "runtime" (event loop, GC, natives called by Bun). */
const COMPONENTS: [string, RegExp][] = [
  ['hawk', /src\/auth\/|hawk-auth\.ts/],
  ['request log', /src\/http\/logger\.ts|request-log\.ts/],
  ['other layers (cors, X-Weave-Timestamp, metrics)', /src\/http\/middleware\/|src\/metrics\//],
  ['sqlite', /src\/db\/|drizzle-orm/],
  ['response', /src\/storage\/responses\.ts/],
  ['storage route', /src\/storage\//],
  ['hono', /node_modules\/hono\//],
  ['server fetch', /src\/server\.ts|src\/app\.ts/],
]

export function profileSplit(file: string, fromMs: number, toMs: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const component = new Map<string, number>()
  const self = new Map<string, number>()
  let time = profile.startTime
  let inWindow = 0
  for (const [index, id] of profile.samples.entries()) {
    time += profile.timeDeltas[index] ?? 0
    if (time < fromMs * 1000 || time > toMs * 1000) continue
    inWindow++
    const leaf = byId.get(id)!
    const frame = leaf.callFrame
    if (frame.functionName === '(idle)' || frame.functionName === '(program)') continue
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`
    self.set(name, (self.get(name) ?? 0) + 1)
    let owner = 'runtime'
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const url = byId.get(at)!.callFrame.url
      const found = COMPONENTS.find(([, pattern]) => pattern.test(url))
      if (found !== undefined) {
        owner = found[0]
        break
      }
    }
    component.set(owner, (component.get(owner) ?? 0) + 1)
  }
  const percent = (n: number) => `${((100 * n) / Math.max(inWindow, 1)).toFixed(1)} %`
  const table = (rows: Map<string, number>, limit: number) =>
    [...rows]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, n]) => `| ${percent(n)} | ${name} |`)
      .join('\n')
  return [
    `## Samples during the measured load: ${inWindow}`,
    '',
    '| Share | Component (innermost of ours on the stack) |',
    '|---:|---|',
    table(component, 20),
    '',
    '| Self | Function |',
    '|---:|---|',
    table(self, 30),
  ].join('\n')
}
