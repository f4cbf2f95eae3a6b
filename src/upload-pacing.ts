/**
 * Bun's idle timeout is a deadline for the whole request, body included: a slow but moving
 * upload would be cut at it. So a request with a body is exempt from it (the server turns it
 * off), and its body, read through `bodyChunks`, is cut only when no byte arrives for `stallMs`
 * (the idle timeout) or the upload as a whole takes longer than `totalMs` (`upload_timeout`);
 * the handler then fails reading it.
 *
 * The limits are filed beside the request, not put in a new Request whose body is a JavaScript
 * stream over the native one: that wrapper cost ~10 % of the server's CPU per 100-record POST.
 */
export interface UploadLimits {
  stallMs: number
  totalMs: number
}

interface PacedUpload {
  stallMs: number
  /** Date.now() past which the upload is cut, counted from its arrival. */
  deadline: number
}

const pacedUploads = new WeakMap<Request, PacedUpload>()

/** Makes `bodyChunks` hold this request's body to the limits, from now on. */
export function paceUpload(request: Request, limits: UploadLimits): void {
  pacedUploads.set(request, { stallMs: limits.stallMs, deadline: Date.now() + limits.totalMs })
}

/** The body's chunks as they arrive, cut as described above when the request is a paced upload. */
export function bodyChunks(request: Request): AsyncIterable<Uint8Array> | null {
  const body = request.body
  const upload = pacedUploads.get(request)
  return body === null || upload === undefined ? body : pacedChunks(body, upload)
}

async function* pacedChunks(body: ReadableStream<Uint8Array>, upload: PacedUpload): AsyncGenerator<Uint8Array> {
  const reader = body.getReader()
  let cutFor: string | undefined
  let done = false
  try {
    while (!done) {
      const wait = Math.min(upload.stallMs, upload.deadline - Date.now())
      const reason = wait === upload.stallMs ? 'request body stalled' : 'upload took longer than upload_timeout'
      const timer = setTimeout(() => {
        cutFor = reason
        reader.cancel(reason).catch(() => {})
      }, Math.max(0, wait))
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } finally {
        clearTimeout(timer)
      }
      if (cutFor !== undefined) throw new Error(cutFor)
      done = chunk.done
      if (!chunk.done) yield chunk.value
    }
  } finally {
    // A reader that stops early (a body over the size limit) lets go of the rest.
    if (!done && cutFor === undefined) reader.cancel().catch(() => {})
  }
}
