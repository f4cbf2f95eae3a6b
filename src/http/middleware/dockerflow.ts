const DOCKERFLOW = new Set(['/__heartbeat__', '/__lbheartbeat__', '/__version__', '/__error__'])

/**
 * Operational endpoints get no X-Weave-Timestamp; matched case-insensitively like the reference.
 * Every request asks, so the lower-cased copy is made only for paths that start like one.
 */
export const isDockerflowPath = (path: string): boolean => path.startsWith('/__') && DOCKERFLOW.has(path.toLowerCase())
