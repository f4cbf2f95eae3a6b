import packageJson from '../package.json' with { type: 'json' }

export const VERSION: string = packageJson.version

// Set with `--define` by scripts/release.ts: the runtime cannot tell glibc from musl by itself.
declare const SYNCSERVER_TARGET: string | undefined

/** The platform the binary was built for, e.g. `linux-arm64-musl`; the host's when run from source. */
export const TARGET: string = typeof SYNCSERVER_TARGET === 'string' ? SYNCSERVER_TARGET : `${process.platform}-${process.arch}`

/** What `syncserver --version` prints. */
export const VERSION_LINE = `syncserver ${VERSION} (${TARGET})`
