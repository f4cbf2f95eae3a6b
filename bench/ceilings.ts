import { makeUsers, type SyncUser } from './client.ts'
import type { BenchEngine } from './engines.ts'
import type { Operation } from './load.ts'
import type { Profile } from './options.ts'
import type { WorkloadId } from './workloads.ts'

/**
 * The HTTP ceiling's operation: a bare Bun.serve answering a constant (bench/hello.ts, its own
 * process), driven exactly like the server: Hawk-signed info/collections requests, which it
 * ignores, so the load generator spends the same per request on both sides of the ratio.
 */
export function helloOperation(helloUrl: string): Operation {
  const users = makeUsers(helloUrl, 'hello-world-ignores-this', 1, 64)
  let next = 0
  return async () => (await (users[next++ % users.length] as SyncUser).send('GET', '/info/collections')).status
}

/** Clients of an engine's storage scenarios: the profile's, unless the engine sets fewer. */
export const scenarioConcurrency = (engine: BenchEngine, profile: Profile): number =>
  engine.scenarioConcurrency ?? profile.scenario.concurrency

/**
 * SQLite's ceiling runs at concurrency 1: bun:sqlite is synchronous on one connection, so more
 * workers would only take turns. Network engines run at the scenario concurrency over a pool.
 */
export const dbCeilingConcurrency = (engine: BenchEngine, profile: Profile): number =>
  engine.name === 'sqlite' ? 1 : scenarioConcurrency(engine, profile)

export function dbCeilingName(engine: BenchEngine, id: WorkloadId): string {
  const work = id === 'get-1000' ? 'SELECT + serialise' : id === 'info-collections' ? 'reads + serialise' : 'upserts'
  return `raw ${engine.label} (${work})`
}
