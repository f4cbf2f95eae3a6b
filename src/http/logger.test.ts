import { expect, test } from 'bun:test'
import { createLogger, StdoutLines } from './logger.ts'

/** A sink that records what it is handed, failing like a closed pipe when told to. */
function recordingSink(options: { failing?: boolean } = {}) {
  const writes: string[] = []
  const sink = {
    write(chunk: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer) {
      if (options.failing) throw new Error('EPIPE')
      writes.push(String(chunk))
      return 0
    },
    flush: () => 0,
  }
  return { sink, writes }
}

/**
 * Lines whose first line, 'first', has gone out at the end of its turn; what is written next
 * comes soon after it. The clock stands still: on a loaded machine a real one could pass the
 * gathering time.
 */
async function afterFirstHandOver() {
  const { sink, writes } = recordingSink()
  const lines = new StdoutLines(sink, () => 1_000)
  lines.write('first')
  await Promise.resolve()
  return { lines, writes }
}

test('a line after a quiet spell goes out at the end of its turn, without waiting for a timer', async () => {
  const { sink, writes } = recordingSink()
  const lines = new StdoutLines(sink)
  lines.write('alone')
  await Promise.resolve()
  expect(writes).toEqual(['alone\n'])
  // Quiet for longer than the 50 ms the logger gathers lines over.
  await Bun.sleep(80)
  lines.write('later')
  await Promise.resolve()
  expect(writes).toEqual(['alone\n', 'later\n'])
})

test('lines soon after the last write wait for a timer and share one write, in order', async () => {
  const { lines, writes } = await afterFirstHandOver()
  lines.write('second')
  await Promise.resolve()
  lines.write('third')
  await Promise.resolve()
  expect(writes).toEqual(['first\n'])
  await Bun.sleep(120)
  expect(writes).toEqual(['first\n', 'second\nthird\n'])
})

test('16 KiB of waiting lines go out in the call that fills the batch, without a timer', async () => {
  const { lines, writes } = await afterFirstHandOver()
  const line = 'x'.repeat(1023)
  for (let i = 0; i < 15; i++) lines.write(line)
  expect(writes).toEqual(['first\n'])
  lines.write(line)
  expect(writes).toEqual(['first\n', `${line}\n`.repeat(16)])
  // The timer the first of them queued is still to come, and writes what followed the batch.
  lines.write('last')
  await Bun.sleep(120)
  expect(writes).toEqual(['first\n', `${line}\n`.repeat(16), 'last\n'])
})

test('an urgent line goes out in the call that writes it, after the lines gathered before it', async () => {
  const { lines, writes } = await afterFirstHandOver()
  lines.write('gathered')
  lines.write('failed', true)
  expect(writes).toEqual(['first\n', 'gathered\nfailed\n'])
})

test('warnings and errors are urgent, info and debug lines are not', () => {
  const written: [string, boolean][] = []
  const logger = createLogger({ human: true, level: 'debug', write: (line, urgent) => written.push([line.split(' ')[1] ?? '', urgent]) })
  logger.debug('d')
  logger.info('i')
  logger.warn('w')
  logger.error('e')
  expect(written).toEqual([
    ['DEBUG', false],
    ['INFO', false],
    ['WARN', true],
    ['ERROR', true],
  ])
})

test('once stdout is gone, lines are dropped instead of failing the caller', async () => {
  const failing = { failing: true }
  const { sink, writes } = recordingSink(failing)
  const lines = new StdoutLines(sink)
  lines.write('lost')
  await Bun.sleep(20)
  failing.failing = false
  expect(() => lines.write('dropped')).not.toThrow()
  await Bun.sleep(20)
  expect(writes).toEqual([])
})

test('a JSON line carries mozlog fields, its Timestamp in exact nanoseconds', () => {
  const lines: string[] = []
  const before = Date.now()
  createLogger({ human: false, write: (line) => lines.push(line) }).info('request', { method: 'GET', status: 200 })
  const after = Date.now()
  const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>
  expect(line).toMatchObject({ Type: 'syncserver:log', Severity: 6, Fields: { msg: 'request', method: 'GET', status: 200 } })
  // Read as text: JSON.parse would turn it into a double.
  const nanoseconds = /"Timestamp":(\d+),/.exec(lines[0] ?? '')?.[1] ?? ''
  expect(nanoseconds).toMatch(/^\d+000000$/)
  const millis = Number(nanoseconds.slice(0, -6))
  expect(millis).toBeGreaterThanOrEqual(before)
  expect(millis).toBeLessThanOrEqual(after)
})
