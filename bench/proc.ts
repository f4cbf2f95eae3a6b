import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'

/**
 * Linux /proc readers for the resource figures. Every reader answers undefined when /proc is
 * not there (another OS) or the process is gone, so the report shows "n/a" instead of failing.
 */

const CLOCK_TICKS_PER_SECOND = 100 // USER_HZ, fixed at 100 on every Linux ABI Bun runs on.

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A `VmRSS`/`VmHWM`-style line of /proc/<pid>/status, in MiB. */
function statusField(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number | undefined {
  const match = read(`/proc/${pid}/status`)?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return match?.[1] === undefined ? undefined : Number(match[1]) / 1024
}

export const rssMiB = (pid: number) => statusField(pid, 'VmRSS')

/**
 * RSS split into private memory (heap, stacks: RssAnon) and pages of mapped files (RssFile):
 * for a compiled Bun binary the latter is mostly the runtime's own code, clean and shared.
 */
export function memoryBreakdown(pid: number): { anonMiB: number; fileMiB: number } | undefined {
  const anon = statusField(pid, 'RssAnon')
  const file = statusField(pid, 'RssFile')
  return anon === undefined || file === undefined ? undefined : { anonMiB: anon, fileMiB: file }
}
export const peakRssMiB = (pid: number) => statusField(pid, 'VmHWM')

/**
 * Resets the process's VmHWM to its current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0), so the
 * peak read afterwards belongs to what ran in between. False when the kernel refused.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    for (const member of processTree(pid)) writeFileSync(`/proc/${member}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/**
 * A process and its descendants (a `serve` supervisor and its workers), from
 * /proc/<pid>/task/<tid>/children; just the process where the kernel does not offer that file.
 */
export function processTree(pid: number): number[] {
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i] as number
    const tasks = readDir(`/proc/${parent}/task`) ?? []
    for (const task of tasks) {
      const children = read(`/proc/${parent}/task/${task}/children`)?.trim()
      if (children) tree.push(...children.split(' ').map(Number))
    }
  }
  return tree
}

function readDir(path: string): string[] | undefined {
  try {
    return readdirSync(path)
  } catch {
    return undefined
  }
}

/** The largest VmHWM among a process tree's members: the peak of the busiest worker. */
export function peakRssPerProcessMiB(pid: number): number | undefined {
  const peaks = processTree(pid).map(peakRssMiB).filter((value): value is number => value !== undefined)
  return peaks.length === 0 ? undefined : Math.max(...peaks)
}

/**
 * Memory of a process tree (supervisor + workers) as PSS summed: each shared page (the binary's
 * code, mapped by every worker) counted once overall instead of once per process, as RSS would.
 */
export function treePssMiB(pid: number): number | undefined {
  const values = processTree(pid)
    .map((member) => read(`/proc/${member}/smaps_rollup`)?.match(/^Pss:\s+(\d+) kB/m)?.[1])
    .filter((value): value is string => value !== undefined)
  return values.length === 0 ? undefined : values.reduce((sum, kib) => sum + Number(kib) / 1024, 0)
}

/**
 * CPU seconds (user + system) of a process and its live descendants, from /proc/<pid>/stat;
 * a worker that exited during the window takes its CPU with it (rare: only on a crash).
 */
function processCpuSeconds(pid: number): number | undefined {
  const own = processOwnCpuSeconds(pid)
  if (own === undefined) return undefined
  return processTree(pid).slice(1).reduce((sum, child) => sum + (processOwnCpuSeconds(child) ?? 0), own)
}

function processOwnCpuSeconds(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime + stime) ? (utime + stime) / CLOCK_TICKS_PER_SECOND : undefined
}

/**
 * Jiffies of the whole machine from the first line of /proc/stat: busy (user, nice, system,
 * irq, softirq), steal (time the hypervisor gave our vCPUs to someone else) and their total with
 * idle and iowait. Guest time is already inside user, so it is not added again.
 */
function machineJiffies(): { busy: number; steal: number; total: number } | undefined {
  const line = read('/proc/stat')?.split('\n', 1)[0]
  if (line === undefined || !line.startsWith('cpu ')) return undefined
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number)
  const busy = user + nice + system + irq + softirq
  return { busy, steal, total: busy + steal + idle + iowait }
}

export interface CpuWindow {
  /** Server CPU over the window, in cores (1.0 = one core fully busy). */
  serverCores?: number
  /** This (load-generating) process, in cores. */
  benchCores: number
  /** The whole machine's busy time, as a fraction of all its cores (steal excluded). */
  machineShare?: number
  /** Time the hypervisor ran something else on our vCPUs, as a fraction of all cores. */
  stealShare?: number
  /** The database server's processes serving the server under test (PostgreSQL's backends), in cores. */
  databaseCores?: number
  /** Cores busy with processes other than the server, its database backends and the benchmark: noise in the figures. */
  otherCores?: number
}

/** The load generator used more CPU than the server: the figure may measure the generator (issue #11 marks it invalid). */
export const generatorBound = (cpu: CpuWindow | undefined): boolean => cpu?.serverCores !== undefined && cpu.benchCores > cpu.serverCores

/** Starts measuring CPU use; `stop()` answers the averages since the start. */
export function cpuWindow(serverPid: number | undefined): { stop(): CpuWindow } {
  const started = performance.now()
  const server0 = serverPid === undefined ? undefined : processCpuSeconds(serverPid)
  const bench0 = process.cpuUsage()
  const machine0 = machineJiffies()
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000
      const bench = process.cpuUsage(bench0)
      const window: CpuWindow = { benchCores: (bench.user + bench.system) / 1e6 / seconds }
      const server1 = serverPid === undefined ? undefined : processCpuSeconds(serverPid)
      if (server0 !== undefined && server1 !== undefined) window.serverCores = (server1 - server0) / seconds
      const machine1 = machineJiffies()
      if (machine0 !== undefined && machine1 !== undefined && machine1.total > machine0.total) {
        const total = machine1.total - machine0.total
        window.machineShare = (machine1.busy - machine0.busy) / total
        window.stealShare = (machine1.steal - machine0.steal) / total
        window.otherCores = Math.max(0, window.machineShare * cpuCount() - window.benchCores - (window.serverCores ?? 0))
      }
      return window
    },
  }
}

/**
 * CPU of a changing set of processes over a window, in cores: a database server's backends
 * serving the server under test (PostgreSQL forks one per connection, and a pool opens them as
 * load grows). `pids` is asked at both ends; a backend born in the window counts from zero.
 */
export async function processesCpuWindow(pids: () => Promise<number[]>): Promise<{ stop(): Promise<number> }> {
  const started = performance.now()
  const before = new Map((await pids()).map((pid) => [pid, processOwnCpuSeconds(pid) ?? 0]))
  return {
    async stop() {
      const seconds = (performance.now() - started) / 1000
      let total = 0
      for (const pid of await pids()) total += (processOwnCpuSeconds(pid) ?? 0) - (before.get(pid) ?? 0)
      return Math.max(0, total) / seconds
    },
  }
}

/** Averages CPU windows over several trials, weighted by their durations. */
export class CpuTotals {
  #weight = 0
  #sums = { serverCores: 0, benchCores: 0, machineShare: 0, stealShare: 0, otherCores: 0 }
  #has = { serverCores: false, machineShare: false }

  add(window: CpuWindow, durationMs: number): void {
    this.#weight += durationMs
    this.#sums.benchCores += window.benchCores * durationMs
    if (window.serverCores !== undefined) {
      this.#has.serverCores = true
      this.#sums.serverCores += window.serverCores * durationMs
    }
    if (window.machineShare !== undefined) {
      this.#has.machineShare = true
      this.#sums.machineShare += window.machineShare * durationMs
      this.#sums.stealShare += (window.stealShare ?? 0) * durationMs
      this.#sums.otherCores += (window.otherCores ?? 0) * durationMs
    }
  }

  average(): CpuWindow {
    const w = Math.max(this.#weight, 1e-9)
    const window: CpuWindow = { benchCores: this.#sums.benchCores / w }
    if (this.#has.serverCores) window.serverCores = this.#sums.serverCores / w
    if (this.#has.machineShare) {
      window.machineShare = this.#sums.machineShare / w
      window.stealShare = this.#sums.stealShare / w
      window.otherCores = this.#sums.otherCores / w
    }
    return window
  }
}

export const cpuCount = (): number => cpus().length

export function cpuModel(): string {
  return cpus()[0]?.model.trim() ?? 'unknown CPU'
}

/**
 * Samples the RSS of a process tree's largest member (one worker) every `intervalMs` until stopped, for a peak that does not depend on
 * VmHWM being resettable.
 */
export function sampleRss(pid: number, intervalMs = 100): { stop(): number | undefined } {
  let peak: number | undefined
  const take = () => {
    const rss = Math.max(...processTree(pid).map((member) => rssMiB(member) ?? 0))
    if (rss !== undefined) peak = Math.max(peak ?? 0, rss)
  }
  take()
  const timer = setInterval(take, intervalMs)
  return {
    stop() {
      clearInterval(timer)
      take()
      return peak
    },
  }
}
