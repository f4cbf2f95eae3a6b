/**
 * Collection name → id, the one rule every engine follows. Ids are shared by all users, so a
 * wrong entry here merges collections for everyone: an id is cached only once a committed row
 * holds it. An id a transaction created is kept aside and cached after that transaction
 * commits; if it rolls back, the database may hand the same id to another name (SQLite reuses
 * the highest rowid), and a cached entry would then point two names at one collection.
 */

/** The standard collections and their fixed ids, seeded by every schema (database.md §1–3). */
export const STANDARD_COLLECTIONS: ReadonlyMap<string, number> = new Map([
  ['clients', 1],
  ['crypto', 2],
  ['forms', 3],
  ['history', 4],
  ['keys', 5],
  ['meta', 6],
  ['bookmarks', 7],
  ['prefs', 8],
  ['tabs', 9],
  ['passwords', 10],
  ['addons', 11],
  ['addresses', 12],
  ['creditcards', 13],
])

/** An id a write resolved: `created` ids exist only inside the transaction until it commits. */
export interface ResolvedCollection {
  name: string
  id: number
  created: boolean
}

/** How an engine reads and creates collection rows; only its SQL differs. */
export interface CollectionRows {
  /** The id of a committed row (or one this transaction wrote), if any. */
  find(name: string): Promise<number | undefined> | number | undefined
  /** Creates the row (a concurrent creator of the same name may win) and returns its id. */
  create(name: string): Promise<number> | number
}

/**
 * Collection rows from two statements: a lookup by name and an insert that a concurrent creator
 * of the same name may turn into a no-op (then its id is read back). `insert` answers the new
 * id when its statement returns it.
 */
export function collectionRows(
  find: (name: string) => Promise<number | undefined> | number | undefined,
  insert: (name: string) => Promise<number | undefined> | number | undefined,
): CollectionRows {
  return {
    find,
    async create(name) {
      const id = (await insert(name)) ?? (await find(name))
      if (id === undefined) throw new Error(`collection ${name} could not be created`)
      return id
    },
  }
}

export class CollectionIds {
  readonly #ids = new Map<string, number>(STANDARD_COLLECTIONS)

  /** The id of an existing collection, or undefined when there is none (reads never create). */
  async find(name: string, rows: Pick<CollectionRows, 'find'>): Promise<number | undefined> {
    const cached = this.#ids.get(name)
    if (cached !== undefined) return cached
    const id = await rows.find(name)
    // Found before anything was created by this transaction: a committed row.
    if (id !== undefined) this.#ids.set(name, id)
    return id
  }

  /** The id a write uses, creating the collection when needed; pass the result to `committed`. */
  async resolve(name: string, rows: CollectionRows): Promise<ResolvedCollection> {
    const existing = await this.find(name, rows)
    if (existing !== undefined) return { name, id: existing, created: false }
    return { name, id: await rows.create(name), created: true }
  }

  /** Called once the transaction that resolved `collection` committed. */
  committed(collection: ResolvedCollection | undefined): void {
    if (collection?.created) this.#ids.set(collection.name, collection.id)
  }
}
