/** A value now (SQLite's synchronous driver, a cache hit) or later (a database round trip). */
export type Step<T> = T | Promise<T>

/**
 * `next` applied to `value`: at once when the value is at hand, after it otherwise. A value at
 * hand takes no promise hop, which the hottest paths (info/collections on SQLite) measure.
 */
export const then = <A, B>(value: Step<A>, next: (value: A) => Step<B>): Step<B> =>
  value instanceof Promise ? value.then(next) : next(value)
