/** Route patterns of the Sync 1.5 API (storage-api.md §1–2); anything else is a 404. */
const UID = ':uid{[0-9]{1,10}}'
const COLLECTION = ':collection{[a-zA-Z0-9._-]{1,32}}'
// Decoded and checked against the id rule by the handler, which answers 400 for a bad id.
const BSO = ':bso{[^/]+}'

export const paths = {
  infoCollections: `/1.5/${UID}/info/collections`,
  infoCollectionCounts: `/1.5/${UID}/info/collection_counts`,
  infoCollectionUsage: `/1.5/${UID}/info/collection_usage`,
  infoQuota: `/1.5/${UID}/info/quota`,
  infoConfiguration: `/1.5/${UID}/info/configuration`,
  user: `/1.5/${UID}`,
  storage: `/1.5/${UID}/storage`,
  collection: `/1.5/${UID}/storage/${COLLECTION}`,
  bso: `/1.5/${UID}/storage/${COLLECTION}/${BSO}`,
} as const
