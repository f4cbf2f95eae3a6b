import { beforeEach, describe, expect, test } from 'bun:test'
import { TokenVerifier } from '../../src/auth/token.ts'
import { RETIRED_GENERATION } from '../../src/db/tokenserver-types.ts'
import { sqlBackends } from '../support/backends.ts'
import {
  accessToken,
  emailOf,
  errorBody,
  harnessPerTest,
  MASTER_SECRET,
  newFxaUid,
  NODE_URL,
  UNAUTHORIZED,
  type Harness,
} from './harness.ts'

/** base64url client states of X-KeyID and their hex. */
const AAAA = 'qqo'
const BBBB = 'u7s'

const staleState = (reason: string) =>
  errorBody('invalid-client-state', 'header', 'X-Client-State', `Unacceptable client-state value ${reason}`)

describe.each(sqlBackends)('user rows (tokenserver.md §8, §9) on $name', (backend) => {
  const open = harnessPerTest(backend)
  let server: Harness
  let fxaUid: string
  beforeEach(async () => {
    server = await open()
    fxaUid = newFxaUid()
  })

  /** A token request for this test's account. */
  const ask = async (generation: number | bigint | null, keyId: string) =>
    server.request({ token: await accessToken({ sub: fxaUid, generation }), keyId })
  const issue = async (generation: number | bigint | null, keyId: string) =>
    server.token({ token: await accessToken({ sub: fxaUid, generation }), keyId })
  const expectRefusal = async (generation: number | null, keyId: string, body: unknown) => {
    const response = await ask(generation, keyId)
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual(body)
  }
  const rows = () => server.rows(fxaUid)

  describe('an unknown user (§9.4)', () => {
    test('gets exactly one row with the request values, and its node one more user', async () => {
      const before = BigInt(Date.now())
      const body = await issue(1234, `1234-${AAAA}`)
      const [row, ...others] = await rows()
      expect(others).toEqual([])
      expect(row).toMatchObject({
        uid: body.uid,
        service: server.service,
        email: emailOf(fxaUid),
        generation: 1234n,
        clientState: 'aaaa',
        keysChangedAt: 1234n,
        replacedAt: null,
        node: NODE_URL,
      })
      expect(row?.createdAt).toBeGreaterThanOrEqual(before)
      expect(row?.createdAt).toBeLessThanOrEqual(BigInt(Date.now()))
      expect(await server.node(NODE_URL)).toMatchObject({ currentLoad: 1, available: 99 })
    })

    test('stores generation 0 and keys_changed_at NULL when the request has neither', async () => {
      await issue(null, `0-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 0n, keysChangedAt: null }])
    })

    test('repeating the request creates nothing new', async () => {
      const first = await issue(1234, `1234-${AAAA}`)
      const second = await issue(1234, `1234-${AAAA}`)
      expect(second.uid).toBe(first.uid)
      expect(await rows()).toHaveLength(1)
      expect(await server.node(NODE_URL)).toMatchObject({ currentLoad: 1 })
    })
  })

  describe('moving forward in place (§9.2, §9.3)', () => {
    test('a newer generation and keys_changed_at update the same row', async () => {
      const first = await issue(1234, `1234-${AAAA}`)
      const second = await issue(1235, `1235-${AAAA}`)
      expect(second.uid).toBe(first.uid)
      expect(await rows()).toMatchObject([{ uid: first.uid, generation: 1235n, keysChangedAt: 1235n }])
    })

    test('without a generation, a raised keys_changed_at becomes the generation', async () => {
      await issue(null, `1234-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 0n, keysChangedAt: 1234n }])
      await issue(null, `1235-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1235n, keysChangedAt: 1235n }])
    })

    test('without a generation, a first keys_changed_at becomes the generation', async () => {
      await issue(null, `0-${AAAA}`)
      await issue(null, `1234-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1234n, keysChangedAt: 1234n }])
    })

    test('without a generation and with the same keys_changed_at, the generation stays', async () => {
      await issue(null, `1234-${AAAA}`)
      await issue(null, `1234-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 0n, keysChangedAt: 1234n }])
    })

    test('a first keys_changed_at is written, and a lower one is then refused', async () => {
      await issue(1234, `0-${AAAA}`)
      await issue(1234, `1200-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1234n, keysChangedAt: 1200n }])
      await expectRefusal(1234, `1100-${AAAA}`, UNAUTHORIZED('invalid-keysChangedAt'))
    })

    test('a request generation of 0 counts as absent and changes nothing', async () => {
      await issue(1234, `1234-${AAAA}`)
      await issue(0, `1234-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1234n, keysChangedAt: 1234n }])
    })

    test('an X-KeyID keys_changed_at of 0 keeps a NULL one NULL', async () => {
      await issue(1234, `0-${AAAA}`)
      await issue(1235, `0-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1235n, keysChangedAt: null }])
    })
  })

  describe('claims that go backwards (§9.1)', () => {
    beforeEach(async () => {
      await issue(1234, `1234-${AAAA}`)
    })

    test('rule 1: keys_changed_at raised past the generation is invalid-keysChangedAt', async () => {
      await expectRefusal(1234, `1235-${AAAA}`, UNAUTHORIZED('invalid-keysChangedAt'))
    })

    test('rule 2: an empty client state after a non-empty one is refused', async () => {
      await expectRefusal(1235, '1235-', staleState('empty string'))
    })

    test('rule 4: a new client state without a new generation is refused', async () => {
      await expectRefusal(1234, `1234-${BBBB}`, staleState('new value with no generation change'))
    })

    test('rule 5: a new client state without a new keys_changed_at is refused', async () => {
      await expectRefusal(1235, `1234-${BBBB}`, staleState('new value with no keys_changed_at change'))
    })

    test('rule 6: an older generation is invalid-generation', async () => {
      await expectRefusal(1233, `1234-${AAAA}`, UNAUTHORIZED('invalid-generation'))
    })

    test('rule 7: an older keys_changed_at is invalid-keysChangedAt', async () => {
      await expectRefusal(1235, `1233-${AAAA}`, UNAUTHORIZED('invalid-keysChangedAt'))
    })

    test('rule 8: dropping keys_changed_at once sent is invalid-keysChangedAt', async () => {
      await expectRefusal(1235, `0-${AAAA}`, UNAUTHORIZED('invalid-keysChangedAt'))
    })

    test('a refused request leaves the row as it was', async () => {
      await ask(1233, `1234-${AAAA}`)
      expect(await rows()).toMatchObject([{ generation: 1234n, keysChangedAt: 1234n, replacedAt: null }])
    })
  })

  describe('client-state change (§9.3)', () => {
    test('creates a new uid on the same node and marks the old row replaced at its creation', async () => {
      const first = await issue(1234, `1234-${AAAA}`)
      const second = await issue(2345, `2345-${BBBB}`)
      expect(second.uid).not.toBe(first.uid)
      const [newRow, oldRow, ...others] = await rows()
      expect(others).toEqual([])
      expect(newRow).toMatchObject({ uid: second.uid, generation: 2345n, keysChangedAt: 2345n, clientState: 'bbbb', replacedAt: null })
      expect(oldRow).toMatchObject({ uid: first.uid, generation: 1234n, keysChangedAt: 1234n, clientState: 'aaaa' })
      expect(oldRow?.replacedAt).toBe(newRow?.createdAt as bigint)
      expect(newRow?.nodeId).toBe(oldRow?.nodeId as number)
      // The node's load counts users, not rows.
      expect(await server.node(NODE_URL)).toMatchObject({ currentLoad: 1 })
    })

    test('the new token carries the new fxa_kid and the same node', async () => {
      await issue(1234, `1234-${AAAA}`)
      const body = await issue(2345, `2345-${BBBB}`)
      const { payload } = new TokenVerifier(MASTER_SECRET).verify(body.id)
      expect(payload.fxa_kid).toBe('0000000002345-u7s')
      expect(payload.node).toBe(NODE_URL)
      expect(payload.uid).toBe(body.uid)
    })

    test('without a generation the new row takes the new keys_changed_at as generation', async () => {
      await issue(null, `1234-${AAAA}`)
      await issue(null, `2345-${BBBB}`)
      expect((await rows())[0]).toMatchObject({ generation: 2345n, keysChangedAt: 2345n, clientState: 'bbbb' })
    })

    test('a previously used client state is refused as stale, even with newer values', async () => {
      await issue(1234, `1234-${AAAA}`)
      await issue(2345, `2345-${BBBB}`)
      await expectRefusal(3456, `3456-${AAAA}`, staleState('stale value'))
    })
  })

  describe('rows written by others (§8, §9.4)', () => {
    const insertRow = (values: { generation: bigint; createdAt: bigint; clientState?: string; nodeId?: number }) =>
      server.node(NODE_URL).then((node) =>
        server.db.insertUser({
          service: server.service,
          email: emailOf(fxaUid),
          clientState: values.clientState ?? 'aaaa',
          keysChangedAt: null,
          generation: values.generation,
          createdAt: values.createdAt,
          nodeId: values.nodeId ?? node.id,
        }),
      )

    test('the highest generation wins over the newest row, and the others are replaced at its creation', async () => {
      await insertRow({ generation: 1234n, createdAt: 1234n })
      await insertRow({ generation: 1235n, createdAt: 1234n })
      await insertRow({ generation: 1234n, createdAt: 1235n })
      const current = await insertRow({ generation: 1236n, createdAt: 1233n })
      const body = await issue(1236, `1236-${AAAA}`)
      expect(body.uid).toBe(current)
      const byUid = new Map((await rows()).map((row) => [row.uid, row]))
      expect(byUid.get(current)?.replacedAt).toBeNull()
      for (const [uid, row] of byUid) if (uid !== current) expect(row.replacedAt).toBe(1233n)
    })

    test('rows tying on generation and created_at go to the higher uid', async () => {
      await insertRow({ generation: 1234n, createdAt: 1234n })
      const higher = await insertRow({ generation: 1234n, createdAt: 1234n })
      expect((await issue(1234, `1234-${AAAA}`)).uid).toBe(higher)
    })

    test('a replaced current row is followed by a new uid carrying its values, then moved forward', async () => {
      const first = await issue(1234, `1234-${AAAA}`)
      await server.db.replaceUsers({ service: server.service, email: emailOf(fxaUid), replacedAt: BigInt(Date.now()) + 1n })
      const second = await issue(1240, `1240-${AAAA}`)
      expect(second.uid).not.toBe(first.uid)
      expect((await rows())[0]).toMatchObject({ uid: second.uid, generation: 1240n, keysChangedAt: 1240n, clientState: 'aaaa', replacedAt: null })
      expect(await server.node(NODE_URL)).toMatchObject({ currentLoad: 2 })
    })

    test('a row whose node does not exist is followed by a new uid on a real node', async () => {
      const orphan = await insertRow({ generation: 1234n, createdAt: 1234n, nodeId: 999_999 })
      const body = await issue(1234, `1234-${AAAA}`)
      expect(body.uid).not.toBe(orphan)
      expect(body.api_endpoint).toBe(`${NODE_URL}/1.5/${body.uid}`)
    })
  })

  describe('retired users (§9.4, §12.3)', () => {
    const retire = () => server.db.retireUser({ service: server.service, email: emailOf(fxaUid), replacedAt: BigInt(Date.now()) })

    test('a retired user with a node is refused with invalid-generation', async () => {
      await issue(1234, `1234-${AAAA}`)
      await retire()
      expect((await rows())[0]).toMatchObject({ generation: RETIRED_GENERATION })
      await expectRefusal(1235, `1235-${AAAA}`, UNAUTHORIZED('invalid-generation'))
    })

    test('only a request with the retired generation itself gets through, on the same uid', async () => {
      const first = await issue(1234, `1234-${AAAA}`)
      await retire()
      expect((await issue(RETIRED_GENERATION, `1234-${AAAA}`)).uid).toBe(first.uid)
    })

    test('a retired user without a node answers 500 internal-error', async () => {
      await issue(1234, `1234-${AAAA}`)
      await retire()
      await server.db.removeNode({ id: (await server.node(NODE_URL)).id, replacedAt: BigInt(Date.now()) })
      const response = await ask(RETIRED_GENERATION, `1234-${AAAA}`)
      expect(response.status).toBe(500)
      expect(await response.json()).toEqual(errorBody('internal-error', 'internal', '', 'Server error'))
    })
  })
})
