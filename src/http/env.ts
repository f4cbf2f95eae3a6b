import type { StorageUser } from '../db/types.ts'
import type { Millis } from '../db/timestamps.ts'

/** Context variables set by the middleware, typed for every handler. */
export interface AppVariables {
  /** When the request entered the server, truncated to 10 ms (the X-Weave-Timestamp floor). */
  requestTime: Millis
  /** performance.now() when the request entered, for the request log's duration. */
  requestStarted: number
  /** The storage user a valid Hawk header names. */
  user: StorageUser
  /** What the request log line reports as uid (never a token or secret). */
  logUid: string
  /** Which tokenserver minted the request's token (`python` or `rust`), a metrics tag. */
  tokenserverOrigin: string
}

export interface AppEnv {
  Variables: AppVariables
}
