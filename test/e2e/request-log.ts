/**
 * Reads the server's one-line-per-request log. The format is the server's choice, so this accepts
 * any line that names the method, then the path, then the status, with the query either in the path
 * or in a `query` field: `POST /1.5/1/storage/history?batch=true 202 3ms`,
 * `request method=POST path=/1.5/1/storage/history query=batch=true status=202 ms=1.2` (src/http/logger.ts),
 * or mozlog JSON with those fields in that order.
 */
export interface LoggedRequest {
  method: string
  /** Path with query string, as logged. */
  path: string
  status: number
}

const METHOD = /\b(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS)\b/
const PATH = /\/[^\s"',]*/
const QUERY_FIELD = /\bquery"?\s*[=:]\s*"?([^\s",}]+)/
const STATUS_FIELD = /\bstatus"?\s*[=:]\s*([1-5]\d\d)\b/
// Without a status key: a separator, then 3 digits with no unit, so "202" matches but "123ms" or "0.202" do not.
const BARE_STATUS = /(?:^|[\s=:"])([1-5]\d\d)(?=$|[\s,"}])/

export function parseRequestLine(line: string): LoggedRequest | undefined {
  const method = METHOD.exec(line)
  if (!method) return undefined
  const afterMethod = line.slice(method.index + method[0].length)
  const path = PATH.exec(afterMethod)
  if (!path) return undefined
  const afterPath = afterMethod.slice(path.index + path[0].length)
  const status = STATUS_FIELD.exec(afterPath) ?? BARE_STATUS.exec(afterPath)
  if (!status) return undefined
  const query = path[0].includes('?') ? undefined : QUERY_FIELD.exec(afterPath)?.[1]
  return { method: method[1]!, path: query ? `${path[0]}?${query}` : path[0], status: Number(status[1]) }
}

export function parseRequestLog(output: string): LoggedRequest[] {
  return output.split('\n').flatMap((line) => parseRequestLine(line) ?? [])
}

export interface BatchUpload {
  /** The `POST …?batch=true` that opened the batch (answered 202). */
  opened: LoggedRequest
  /** The `POST …?batch=<id>&commit=true` that closed it (answered 200). */
  committed: LoggedRequest
}

const isCollectionPost = (request: LoggedRequest, collection: string): boolean =>
  request.method === 'POST' && new URL(request.path, 'http://x').pathname.endsWith(`/storage/${collection}`)

const query = (request: LoggedRequest): URLSearchParams => new URL(request.path, 'http://x').searchParams

/** The first batch upload to `collection` that went through the 202 path and was committed. */
export function findBatchUpload(requests: LoggedRequest[], collection: string): BatchUpload | undefined {
  const posts = requests.filter((r) => isCollectionPost(r, collection))
  const openedAt = posts.findIndex((r) => r.status === 202 && query(r).get('batch') === 'true' && !query(r).has('commit'))
  const opened = posts[openedAt]
  if (!opened) return undefined
  const committed = posts
    .slice(openedAt + 1)
    .find((r) => r.status === 200 && query(r).get('commit') === 'true' && query(r).get('batch') !== 'true')
  return committed && { opened, committed }
}
