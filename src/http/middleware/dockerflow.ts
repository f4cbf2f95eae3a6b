const DOCKERFLOW = new Set(['/__heartbeat__', '/__lbheartbeat__', '/__version__', '/__error__'])

/** Operational endpoints get no X-Weave-Timestamp; matched case-insensitively like the reference. */
export const isDockerflowPath = (path: string): boolean => DOCKERFLOW.has(path.toLowerCase())
