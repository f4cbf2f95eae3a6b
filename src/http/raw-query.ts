/**
 * The raw query string of a request URL, without the `?`. Hawk signs the query exactly as the
 * client sent it, so it is read from the URL text and never re-serialised.
 */
export function rawQueryOf(url: string): string {
  const mark = url.indexOf('?')
  return mark === -1 ? '' : url.slice(mark + 1)
}
