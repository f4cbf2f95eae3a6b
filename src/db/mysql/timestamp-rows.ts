import { STANDARD_COLLECTIONS } from '../collection-ids.ts'
import { LastTimestampMaps, type TimestampMap } from '../last-timestamp-maps.ts'
import { TOMBSTONE } from '../rules.ts'

/**
 * Collection names by id, for timestamp rows read without a join to `collections`: the name
 * column was most of what mysql2 parsed per row. A committed collection row never changes or
 * goes away (ids are not reused), so a name, once read, stays right; the standard ids are fixed
 * and a custom id this process has not seen yet costs one lookup.
 */
export class CollectionNames {
  private readonly names = new Map<number, string>(Array.from(STANDARD_COLLECTIONS, ([name, id]) => [id, name]))

  /** `lookup` answers (id, name) rows for the ids it is given. */
  constructor(private readonly lookup: (ids: number[]) => Promise<unknown[][]>) {}

  /**
   * (collection id, modified, user id) rows as (collection id, name, modified, user id), the
   * tombstone without a name.
   */
  async named(rows: unknown[][]): Promise<unknown[][]> {
    const unknown = new Set<number>()
    for (const [id] of rows) if (id !== TOMBSTONE && !this.names.has(id as number)) unknown.add(id as number)
    if (unknown.size > 0) for (const [id, name] of await this.lookup([...unknown])) this.names.set(Number(id), name as string)
    return rows.map(([id, modified, uid]) => [id, this.names.get(id as number), modified, uid])
  }
}

/**
 * Timestamp maps read as rows: a map with the same entries as the user's last one is that one,
 * so the info/collections body derived from it is reused.
 */
export const sameEntryTimestampMaps = () => new LastTimestampMaps<TimestampMap>({ unchanged: sameEntries, toMap: (map) => map })

function sameEntries(a: TimestampMap, b: TimestampMap): boolean {
  if (a.size !== b.size) return false
  for (const [name, modified] of a) if (b.get(name) !== modified) return false
  return true
}
