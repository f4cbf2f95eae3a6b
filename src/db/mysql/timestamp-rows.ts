import { STANDARD_COLLECTIONS } from '../collection-ids.ts'
import { LastTimestampMaps } from '../last-timestamp-maps.ts'
import { timestampMapOf } from '../pooled-storage.ts'
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
 * Timestamp maps read as (collection id, name, modified) rows: rows with the same ids and
 * timestamps, in the same order, as the user's last read give that read's map back, so an
 * unchanged read builds no map and the info/collections body derived from it is reused. Rows in
 * another order only cost a new map.
 */
export const rowTimestampMaps = () => new LastTimestampMaps<readonly unknown[][]>({ unchanged: sameRows, toMap: (rows) => timestampMapOf(rows) })

function sameRows(kept: readonly unknown[][], read: readonly unknown[][]): boolean {
  if (kept.length !== read.length) return false
  for (let i = 0; i < kept.length; i++) {
    const [keptId, , keptModified] = kept[i] as unknown[]
    const [id, , modified] = read[i] as unknown[]
    if (keptId !== id || keptModified !== modified) return false
  }
  return true
}
