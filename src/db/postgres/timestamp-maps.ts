import { LastTimestampMaps } from '../last-timestamp-maps.ts'
import type { Millis } from '../timestamps.ts'

/**
 * Timestamp maps read as the JSON text of statements.usersTimestampsJson (null when the user
 * has no collections): the same text is the same map, so an unchanged read costs one string
 * comparison instead of a parse.
 */
export const jsonTimestampMaps = () =>
  new LastTimestampMaps<string | null>({
    unchanged: (kept, read) => kept === read,
    toMap: (json) => new Map(json === null ? [] : Object.entries(JSON.parse(json) as Record<string, Millis>)),
  })
