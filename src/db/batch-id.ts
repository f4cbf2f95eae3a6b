/**
 * Batch ids of the SQLite and MySQL layouts: the batch number (creation ms + uid mod 10) as a
 * decimal string in standard base64. Digits only ever encode to [A-Za-z0-9] plus `=` padding,
 * so the id survives being pasted into a query string (storage-api.md §13.2). A raw decimal
 * number is accepted as well, as the reference does.
 */
const DECIMAL = /^\d{1,19}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const I64_MAX = 9_223_372_036_854_775_807n

export function encodeIntegerBatchId(batch: number): string {
  return Buffer.from(String(batch)).toString('base64')
}

function decimalOf(batchId: string): string | undefined {
  if (DECIMAL.test(batchId)) return batchId
  if (batchId === '' || !BASE64.test(batchId)) return undefined
  const decoded = Buffer.from(batchId, 'base64').toString('latin1')
  return DECIMAL.test(decoded) ? decoded : undefined
}

export function isWellFormedIntegerBatchId(batchId: string): boolean {
  const decimal = decimalOf(batchId)
  return decimal !== undefined && BigInt(decimal) <= I64_MAX
}

/** The batch number; ids beyond 2^53 cannot name a batch we issued and map to -1 (never found). */
export function decodeIntegerBatchId(batchId: string): number {
  const value = Number(decimalOf(batchId))
  return Number.isSafeInteger(value) ? value : -1
}
