import { Database } from 'bun:sqlite'
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

export interface SqliteBackup {
  bytes: number
  seconds: number
}

/**
 * Copies a live SQLite database to `target` as one consistent snapshot.
 *
 * `VACUUM INTO` reads inside a single read transaction: in WAL mode that sees exactly the
 * transactions committed before it began, and writers in this or any other process carry on
 * meanwhile. The copy is written beside the target, checked with `PRAGMA integrity_check` and
 * synced before it is renamed into place, so `target` is either a whole, sound copy or absent.
 */
export function backupSqlite(source: string, target: string): SqliteBackup {
  if (!existsSync(source)) throw new Error(`no SQLite database at ${source}`)
  if (existsSync(target)) throw new Error(`${target} already exists; a backup never overwrites a file, choose a new name`)
  const started = performance.now()
  const partial = `${target}.partial-${process.pid}`
  try {
    // Not read-only: a read-only connection leaves -wal and -shm files behind, owned by whoever
    // ran the backup, where the server's user may then be unable to open them. VACUUM INTO
    // itself writes nothing to the source.
    const database = new Database(source, { readwrite: true, create: false })
    try {
      // A busy database (a checkpoint, WAL recovery) is waited for, not failed on.
      database.run('PRAGMA busy_timeout = 10000')
      database.run('VACUUM INTO ?', [partial])
    } finally {
      database.close()
    }
    checkIntegrity(partial)
    syncToDisk(partial)
    renameSync(partial, target)
    syncToDisk(dirname(target))
  } finally {
    rmSync(partial, { force: true })
  }
  return { bytes: statSync(target).size, seconds: (performance.now() - started) / 1000 }
}

function checkIntegrity(file: string): void {
  const copy = new Database(file, { readonly: true })
  try {
    const problems = copy.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all().map((row) => row.integrity_check)
    if (problems.join() !== 'ok') throw new Error(`the copy failed PRAGMA integrity_check: ${problems.slice(0, 5).join('; ')}`)
  } finally {
    copy.close()
  }
}

// VACUUM INTO does not sync the file it writes; a backup must survive a power cut after it.
function syncToDisk(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
