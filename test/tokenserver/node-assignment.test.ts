import { describe, expect, test } from 'bun:test'
import { sqlBackends } from '../support/backends.ts'
import { silentLogger } from '../../src/http/logger.ts'
import { createTokenserverApi } from '../../src/tokenserver/api.ts'
import {
  accessToken,
  errorBody,
  harnessPerTest,
  KEY_ID,
  newFxaUid,
  node,
  type Harness,
  type TokenBody,
} from './harness.ts'

const noNode = errorBody('internal-error', 'internal', '', 'Server error')

/** Which node new users land on, and what that does to the nodes (tokenserver.md §12). */
describe.each(sqlBackends)('node assignment on $name', (backend) => {
  const start = harnessPerTest(backend)
  const newUserNode = async (harness: Harness) => new URL((await harness.token()).api_endpoint).origin

  test('the node with the lowest load relative to capacity wins; backoff and downed nodes are skipped', async () => {
    const harness = await start({
      nodes: [
        node('https://downed.example', { currentLoad: 0, downed: true }),
        node('https://backoff.example', { currentLoad: 0, backoff: true }),
        node('https://three.example', { currentLoad: 3, available: 97 }),
        node('https://one.example', { currentLoad: 1, available: 99 }),
        node('https://two.example', { currentLoad: 2, available: 98 }),
      ],
    })
    expect(await newUserNode(harness)).toBe('https://one.example')
    expect(await harness.node('https://one.example')).toMatchObject({ currentLoad: 2, available: 98 })
    expect(await harness.node('https://downed.example')).toMatchObject({ currentLoad: 0, available: 100 })
  })

  test('among empty nodes the oldest, with the most released slots, wins', async () => {
    const harness = await start({
      nodes: [
        node('https://oldest.example', { available: 100 }),
        node('https://few.example', { available: 1 }),
        node('https://some.example', { available: 5 }),
      ],
    })
    expect(await newUserNode(harness)).toBe('https://oldest.example')
  })

  test('an empty node beats any loaded one', async () => {
    const harness = await start({
      nodes: [node('https://loaded.example', { currentLoad: 1, capacity: 1_000_000, available: 10 }), node('https://empty.example', { capacity: 2 })],
    })
    expect(await newUserNode(harness)).toBe('https://empty.example')
  })

  test('a node with no released slots is skipped while another has some', async () => {
    const harness = await start({
      nodes: [node('https://none-released.example', { available: 0 }), node('https://released.example', { currentLoad: 50, available: 1 })],
    })
    expect(await newUserNode(harness)).toBe('https://released.example')
    expect(await harness.node('https://released.example')).toMatchObject({ currentLoad: 51, available: 0 })
  })

  test('when no node has released slots, a fraction of each capacity is released (rate 0.1)', async () => {
    const harness = await start({
      nodes: [
        node('https://a.example', { currentLoad: 99, capacity: 100, available: 0 }),
        node('https://b.example', { currentLoad: 90, capacity: 100, available: 0 }),
        node('https://c.example', { currentLoad: 80, capacity: 81, available: 0 }),
        node('https://backoff.example', { currentLoad: 70, capacity: 71, available: 0, backoff: true }),
        node('https://downed.example', { currentLoad: 60, capacity: 61, available: 0, downed: true }),
      ],
    })
    expect(await newUserNode(harness)).toBe('https://b.example')
    const available = Object.fromEntries((await harness.nodes()).map((n) => [new URL(n.node).hostname, [n.available, n.currentLoad]]))
    expect(available).toEqual({
      'a.example': [1, 99],
      'b.example': [9, 91],
      'c.example': [1, 80],
      'backoff.example': [1, 70],
      'downed.example': [0, 60],
    })
  })

  test('node_capacity_release_rate sets the fraction released', async () => {
    const harness = await start({
      tokenserver: { node_capacity_release_rate: 0.25 },
      nodes: [node('https://a.example', { currentLoad: 10, capacity: 100, available: 0 })],
    })
    await harness.token()
    expect(await harness.node('https://a.example')).toMatchObject({ currentLoad: 11, available: 24 })
  })

  test('every node full answers 503 internal-error', async () => {
    const harness = await start({ nodes: [node('https://full.example', { currentLoad: 100, capacity: 100, available: 0 })] })
    const response = await harness.request()
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual(noNode)
  })

  test('only downed or backoff nodes answer 503 internal-error', async () => {
    const harness = await start({
      nodes: [node('https://downed.example', { downed: true }), node('https://backoff.example', { backoff: true })],
    })
    expect((await harness.request()).status).toBe(503)
  })

  test('no node at all answers 503 internal-error', async () => {
    const response = await (await start({ nodes: [] })).request()
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual(noNode)
  })

  test('a refused new user leaves no row behind', async () => {
    const harness = await start({ nodes: [] })
    const fxaUid = newFxaUid()
    await harness.request({ token: await accessToken({ sub: fxaUid }) })
    expect(await harness.rows(fxaUid)).toEqual([])
  })

  test('existing users keep a node after it is marked downed or backoff', async () => {
    const harness = await start({ nodes: [node('https://first.example'), node('https://second.example', { currentLoad: 50 })] })
    const fxaUid = newFxaUid()
    const first = await harness.token({ token: await accessToken({ sub: fxaUid }) })
    const firstNode = await harness.node('https://first.example')
    await harness.db.updateNode(firstNode.id, { downed: true, backoff: true })
    const again = await harness.token({ token: await accessToken({ sub: fxaUid }) })
    expect(again.api_endpoint).toBe(first.api_endpoint)
    expect(await newUserNode(harness)).toBe('https://second.example')
  })

  test('in spanner-node mode every user goes to that node whatever its flags, and only its load grows', async () => {
    const harness = await start({ nodes: [node('https://other.example'), node('https://spanner.example', { downed: true, available: 0 })] })
    const spanner = await harness.node('https://spanner.example')
    const tokenserver = { ...harness.settings.tokenserver, spanner_node_id: spanner.id }
    const spannerMode = createTokenserverApi({ db: harness.db, settings: { ...harness.settings, tokenserver }, logger: silentLogger })
    const response = await spannerMode.request('/1.0/sync/1.5', {
      headers: { authorization: `Bearer ${await accessToken()}`, 'x-keyid': KEY_ID },
    })
    const body = (await response.json()) as TokenBody
    expect(body.api_endpoint).toStartWith('https://spanner.example/1.5/')
    expect(await harness.node('https://spanner.example')).toMatchObject({ currentLoad: 1, available: 0 })
  })

  test('in spanner-node mode a missing node answers 503', async () => {
    const response = await (await start({ tokenserver: { spanner_node_id: 424242 } })).request()
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual(noNode)
  })
})
