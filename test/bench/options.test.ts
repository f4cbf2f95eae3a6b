import { expect, test } from 'bun:test'
import { parseCli } from '../../bench/options.ts'

test('bench --quick leaves Spanner out unless --engines names it; the full run includes it', () => {
  expect(parseCli(['--quick']).engines).toEqual(['sqlite', 'postgres', 'mysql'])
  expect(parseCli(['--quick', '--engines=spanner']).engines).toEqual(['spanner'])
  expect(parseCli([]).engines).toEqual(['sqlite', 'postgres', 'mysql', 'spanner'])
})

test('bench --scenarios=… names the scenarios to run alone; without it every scenario runs', () => {
  expect(parseCli(['--scenarios=post-100,batch-3']).scenarios).toEqual(['post-100', 'batch-3'])
  expect(parseCli([]).scenarios).toBeUndefined()
})
