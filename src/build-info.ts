import { execSync } from 'node:child_process'

/**
 * The commit the binary was built from; run as a macro, so it is fixed at bundle time. A build
 * without the repository (a Docker build, where .dockerignore leaves .git out) passes it in
 * SYNCSERVER_COMMIT.
 */
export function buildCommit(): string {
  const given = process.env.SYNCSERVER_COMMIT
  if (given !== undefined && given !== '' && given !== 'unknown') return given
  try {
    return execSync('git rev-parse HEAD', { cwd: import.meta.dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return 'unknown'
  }
}
