/**
 * Creates the directory a file's absolute path names, parents included. node:fs is loaded here
 * only, when a first start needs it: merely loading it costs the server memory on every start.
 */
export function createParentDirectory(path: string): void {
  const { mkdirSync } = require('node:fs') as typeof import('node:fs')
  mkdirSync(path.slice(0, path.lastIndexOf('/')) || '/', { recursive: true })
}
