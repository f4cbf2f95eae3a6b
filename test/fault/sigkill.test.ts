/**
 * Two server processes on one database, under write load through both; one is SIGKILLed
 * repeatedly and restarted. Every write either process acknowledged must be stored, no batch may
 * be half visible, and the survivor keeps answering throughout.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { sqlBackends } from '../support/backends.ts'
import { freePorts } from '../support/server-process.ts'
import { startServerProcess, type ServerProcess } from './support/server-process.ts'
import { formatStatuses, startWriteLoad } from './support/write-load.ts'

const KILLS = 3

// Spanner is left out: these start server processes of their own, which the emulator's settings do not reach yet.
describe.each(sqlBackends)('$name: SIGKILL under write load, two processes on one database', (backend) => {
  const servers: ServerProcess[] = []
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()))
  })

  test(`${KILLS} SIGKILLs of one of two processes: nothing acknowledged lost, no half batch`, async () => {
    const databaseUrl = await backend.freshDatabaseUrl()
    const masterSecret = randomBytes(32).toString('hex')
    const [victimPort] = (await freePorts(1)) as [number]
    const start = () => startServerProcess({ databaseUrl, masterSecret, port: victimPort })
    let victim = await start()
    expect(await victim.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
    const survivor = await startServerProcess({ databaseUrl, masterSecret })
    servers.push(survivor)
    expect(await survivor.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)

    const victimLoad = startWriteLoad(Array.from({ length: 3 }, () => victim.client()))
    const survivorLoad = startWriteLoad(Array.from({ length: 2 }, () => survivor.client()))
    const recoveries: number[] = []
    for (let kill = 0; kill < KILLS; kill++) {
      await Bun.sleep(600)
      await victim.kill('SIGKILL')
      const killedAt = Date.now()
      victim = await start()
      expect(await victim.waitFor('/__heartbeat__', 200, 15_000)).toBe(true)
      recoveries.push(Date.now() - killedAt)
    }
    servers.push(victim)
    await Bun.sleep(400)
    await Promise.all([victimLoad.stop(), survivorLoad.stop()])
    const verdicts = [await victimLoad.verify((uid) => survivor.client(uid)), await survivorLoad.verify((uid) => victim.client(uid))]
    const checked = verdicts.reduce((sum, verdict) => sum + verdict.checked, 0)
    const lost = verdicts.flatMap((verdict) => verdict.lost)
    const half = verdicts.flatMap((verdict) => verdict.halfBatches)
    console.log(
      `[fault] ${backend.name} SIGKILL ×${KILLS}: acknowledged ${victimLoad.acknowledged() + survivorLoad.acknowledged()}, checked ${checked}, ` +
        `lost ${lost.length}, half batches ${half.length}; killed process ${formatStatuses(victimLoad.statuses)}; ` +
        `survivor ${formatStatuses(survivorLoad.statuses)}; restart to healthy ${recoveries.join('/')} ms`,
    )
    expect(lost).toEqual([])
    expect(half).toEqual([])
    expect(checked).toBeGreaterThan(0)
    expect(survivor.exitCode()).toBeNull()
    expect([...survivorLoad.statuses.keys()].filter((status) => ![200, 202, 503].includes(status))).toEqual([])
    expect(survivorLoad.bare503).toBe(0)
  }, 120_000)
})
