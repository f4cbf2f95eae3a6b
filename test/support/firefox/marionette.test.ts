import { expect, test } from 'bun:test'
import { encodeFrame, FrameReader } from './marionette.ts'

test('frame length counts UTF-8 bytes, not characters', () => {
  expect(encodeFrame(['é']).toString('utf8')).toBe('6:["é"]')
})

test('a frame split across chunks is read once complete', () => {
  const reader = new FrameReader()
  const frame = encodeFrame([1, 7, null, { value: 'ü-ok' }])
  expect(reader.push(frame.subarray(0, 5))).toEqual([])
  expect(reader.push(frame.subarray(5))).toEqual([[1, 7, null, { value: 'ü-ok' }]])
})

test('several frames in one chunk are all read', () => {
  const reader = new FrameReader()
  const hello = { applicationType: 'gecko', marionetteProtocol: 3 }
  expect(reader.push(Buffer.concat([encodeFrame(hello), encodeFrame([1, 1, null, {}])]))).toEqual([hello, [1, 1, null, {}]])
})
