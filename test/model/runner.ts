import fc from 'fast-check'
import { UserModel } from './model.ts'
import { describeOp, opArbitrary, requestRetryingAborts, RunContext, runOp, simplerVariants, type Op } from './operations.ts'
import type { RestartableServer } from './server.ts'

export interface ModelOptions {
  runs: number
  /** Operations per sequence (every sequence has exactly this many). */
  ops: number
  seed?: number
  /** Most sequence replays spent shrinking a failure. */
  shrinkBudget?: number
  /** Every this many sequences, a line with their mean time: it must stay flat as a run goes on. */
  progressEvery?: number
}

export interface ModelReport {
  engine: string
  runs: number
  operations: number
  seconds: number
  seed: number
  failure?: string
}

/** Runs one sequence on fresh users and collection names, through fast-check's model runner. */
async function runSequence(server: RestartableServer, ops: readonly Op[]): Promise<void> {
  await server.startSequence()
  const ctx = new RunContext(server, () => new UserModel())
  const commands = ops.map((op, index) => ({
    check: () => true,
    run: async (context: RunContext) => {
      try {
        await runOp(context, op)
      } catch (error) {
        ;(error as Error).message = `operation ${index + 1} of ${ops.length}: ${(error as Error).message}`
        throw error
      }
    },
    toString: () => describeOp(op),
  }))
  await fc.asyncModelRun(() => ({ model: ctx, real: ctx }), commands)
  await forget(ctx)
}

/**
 * A finished sequence's users are deleted, so a long run's database holds one sequence's data,
 * not all of them (the Spanner emulator keeps deleted rows: there the run moves to fresh
 * databases instead, RestartableServer.startSequence).
 */
async function forget(ctx: RunContext): Promise<void> {
  for (const uid of ctx.uids) {
    const { response } = await requestRetryingAborts(ctx, ctx.server.client(uid), 'DELETE', '/storage', {})
    await response.text()
    if (response.status !== 200) throw new Error(`deleting user ${uid} after the sequence answered ${response.status}`)
  }
}

async function failureOf(server: RestartableServer, ops: readonly Op[]): Promise<Error | undefined> {
  try {
    await runSequence(server, ops)
    return undefined
  } catch (error) {
    return error as Error
  }
}

/**
 * The smallest failing subsequence delta debugging finds: chunks of the sequence are dropped
 * while it still fails. Each replay starts on fresh users and names, so ops are independent of
 * earlier runs (fast-check's own shrinker cannot go below a fixed length).
 */
async function shrink(server: RestartableServer, ops: readonly Op[], budget: number): Promise<{ ops: Op[]; error?: Error; replays: number }> {
  let current = [...ops]
  let error = await failureOf(server, current)
  let replays = 1
  if (error === undefined) return { ops: current, replays }
  let chunks = 2
  while (current.length > 1 && replays < budget) {
    const size = Math.ceil(current.length / chunks)
    let reduced = false
    for (let start = 0; start < current.length && replays < budget; start += size) {
      const candidate = [...current.slice(0, start), ...current.slice(start + size)]
      const candidateError = await failureOf(server, candidate)
      replays++
      if (candidateError !== undefined) {
        current = candidate
        error = candidateError
        chunks = Math.max(chunks - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (size === 1) break
      chunks = Math.min(chunks * 2, current.length)
    }
  }
  // Then each remaining op as simple as it can be while the sequence still fails.
  for (let index = 0; index < current.length && replays < budget; index++) {
    for (let variants = simplerVariants(current[index] as Op); variants.length > 0 && replays < budget; ) {
      const candidate = current.with(index, variants.shift() as Op)
      const candidateError = await failureOf(server, candidate)
      replays++
      if (candidateError !== undefined) {
        current = candidate
        error = candidateError
        variants = simplerVariants(current[index] as Op)
      }
    }
  }
  return { ops: current, error, replays }
}

/** Called after each sequence: every `progressEvery` sequences, prints their mean time. */
function progressLine(engine: string, { runs, progressEvery }: ModelOptions): () => void {
  const started = performance.now()
  let windowStarted = started
  let done = 0
  return () => {
    done++
    if (progressEvery === undefined || done % progressEvery !== 0) return
    const now = performance.now()
    const mean = (now - windowStarted) / progressEvery / 1000
    console.log(`model ${engine}: sequences ${done - progressEvery + 1}–${done} of ${runs}: ${mean.toFixed(2)} s each (${((now - started) / 1000).toFixed(0)} s so far)`)
    windowStarted = now
  }
}

/** Runs `runs` random sequences of `ops` operations; a divergence is reported with seed and shrunk sequence. */
export async function runModel(server: RestartableServer, options: ModelOptions): Promise<ModelReport> {
  const seed = options.seed ?? Date.now() ^ (Math.random() * 0x7fffffff)
  const started = performance.now()
  let operations = 0
  const progress = progressLine(server.engine, options)
  const property = fc.asyncProperty(fc.array(opArbitrary, { minLength: options.ops, maxLength: options.ops }), async (ops) => {
    operations += ops.length
    await runSequence(server, ops)
    progress()
  })
  const result = await fc.check(property, { numRuns: options.runs, seed, endOnFailure: true })
  const report: ModelReport = { engine: server.engine, runs: result.numRuns, operations, seconds: 0, seed }
  if (result.failed && result.counterexample !== null) {
    const [ops] = result.counterexample
    const shrunk = await shrink(server, ops, options.shrinkBudget ?? 400)
    const error = shrunk.error ?? (result.errorInstance as Error)
    report.failure = [
      `model divergence on ${server.engine}: seed ${seed}, path "${result.counterexamplePath}", run ${result.numRuns} of ${options.runs}`,
      `replay: bun run test:model -- --engines ${server.engine} --runs ${options.runs} --ops ${options.ops} --seed ${seed}`,
      `shrunk from ${ops.length} to ${shrunk.ops.length} operations in ${shrunk.replays} replays:`,
      ...shrunk.ops.map((op, index) => `  ${index + 1}. ${describeOp(op)}`),
      `divergence: ${error.message}`,
    ].join('\n')
  }
  report.seconds = (performance.now() - started) / 1000
  return report
}

/** Replays one fixed sequence (a regression found earlier); throws at its first divergence. */
export function replay(server: RestartableServer, ops: readonly Op[]): Promise<void> {
  return runSequence(server, ops)
}
