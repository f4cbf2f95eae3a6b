import { execSync } from 'node:child_process'

/** The commit the binary was built from; run as a macro, so it is fixed at bundle time. */
export function buildCommit(): string {
  try {
    return execSync('git rev-parse HEAD', { cwd: import.meta.dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return 'unknown'
  }
}
