import { expect, test } from 'bun:test'
import { parseCli, reportName } from '../../bench/options.ts'

test('bench --quick leaves Spanner out unless --engines names it; the full run includes it', () => {
  expect(parseCli(['--quick']).engines).toEqual(['sqlite', 'postgres', 'mysql'])
  expect(parseCli(['--quick', '--engines=spanner']).engines).toEqual(['spanner'])
  expect(parseCli([]).engines).toEqual(['sqlite', 'postgres', 'mysql', 'spanner'])
})

test('bench --scenarios=… names the scenarios to run alone; without it every scenario runs', () => {
  expect(parseCli(['--scenarios=post-100,batch-3']).scenarios).toEqual(['post-100', 'batch-3'])
  expect(parseCli([]).scenarios).toBeUndefined()
})

test('only a complete full run writes the committed report (latest); quick, one-engine, mix-only or scenario runs write partial', () => {
  expect(reportName(parseCli([]))).toBe('latest')
  expect(reportName(parseCli(['--no-build']))).toBe('latest')
  expect(reportName(parseCli(['--engines=spanner,mysql,postgres,sqlite']))).toBe('latest')
  expect(reportName(parseCli(['--quick']))).toBe('partial')
  expect(reportName(parseCli(['--quick', '--engines=sqlite,postgres,mysql,spanner']))).toBe('partial')
  expect(reportName(parseCli(['--engines=sqlite']))).toBe('partial')
  expect(reportName(parseCli(['--mix-only']))).toBe('partial')
  expect(reportName(parseCli(['--scenarios=post-100']))).toBe('partial')
})
