import { describe, expect, test } from 'bun:test'
import { findBatchUpload, parseRequestLine, parseRequestLog } from './request-log.ts'

describe('parseRequestLine', () => {
  test('reads method, path with query and status from a plain line', () => {
    expect(parseRequestLine('2026-11-27T05:00:00Z INFO POST /1.5/1/storage/history?batch=true 202 3ms')).toEqual({
      method: 'POST',
      path: '/1.5/1/storage/history?batch=true',
      status: 202,
    })
  })

  test('reads the human line of src/http/logger.ts, joining the query field to the path', () => {
    const line = '2026-11-27T05:40:16.357Z INFO  request method=POST path=/1.5/1/storage/history query=batch=abc&commit=true status=200 ms=0.3 uid=1'
    expect(parseRequestLine(line)).toEqual({ method: 'POST', path: '/1.5/1/storage/history?batch=abc&commit=true', status: 200 })
  })

  test('prefers the status field over numbers inside the query', () => {
    const line = 'request method=GET path=/1.5/1/storage/history query=limit=404 status=200 ms=1'
    expect(parseRequestLine(line)?.status).toBe(200)
  })

  test('reads mozlog JSON fields', () => {
    const line = '{"Type":"syncserver:log","Fields":{"msg":"request","method":"POST","path":"/1.5/1/storage/tabs","query":"batch=true","status":202,"ms":0.4}}'
    expect(parseRequestLine(line)).toEqual({ method: 'POST', path: '/1.5/1/storage/tabs?batch=true', status: 202 })
  })

  test('reads key=value and flat JSON lines with the query in the path', () => {
    expect(parseRequestLine('method=GET path=/1.5/7/info/collections status=200 duration_ms=123')).toEqual({
      method: 'GET',
      path: '/1.5/7/info/collections',
      status: 200,
    })
    expect(parseRequestLine('{"method":"PUT","path":"/1.5/7/storage/meta/global","status":412,"ms":0.202}')).toEqual({
      method: 'PUT',
      path: '/1.5/7/storage/meta/global',
      status: 412,
    })
  })

  test('ignores a duration that looks like a status', () => {
    expect(parseRequestLine('GET /__heartbeat__ 123ms')).toBeUndefined()
  })

  test('ignores lines that are not requests', () => {
    expect(parseRequestLine('listening on 127.0.0.1:8000')).toBeUndefined()
  })
})

describe('findBatchUpload', () => {
  const log = [
    'POST /1.5/1/storage/bookmarks?batch=true&commit=true 200',
    'POST /1.5/1/storage/history?batch=true 202',
    'POST /1.5/1/storage/history?batch=abc 202',
    'POST /1.5/1/storage/history?batch=abc&commit=true 200',
  ].join('\n')

  test('pairs the 202 opening POST with the later committing POST of the same collection', () => {
    expect(findBatchUpload(parseRequestLog(log), 'history')).toEqual({
      opened: { method: 'POST', path: '/1.5/1/storage/history?batch=true', status: 202 },
      committed: { method: 'POST', path: '/1.5/1/storage/history?batch=abc&commit=true', status: 200 },
    })
  })

  test('does not count a single-POST batch=true&commit=true upload', () => {
    expect(findBatchUpload(parseRequestLog(log), 'bookmarks')).toBeUndefined()
  })
})
