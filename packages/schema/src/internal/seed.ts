/**
 * What the NestJS bus (the seeds) writes differently from us, mapped onto our envelope before its header is
 * validated. Runs for every event read, so the common case (nothing to change) allocates nothing.
 */

/** The seeds' replay job re-publishes with this correlation id prefix (`replay-<jobId>`). */
export const replayPrefix = "replay-"

/**
 * Returns the parsed JSON with the seeds' forms mapped to ours: a missing `correlationId` is the event's `id`, and
 * `data.__replay === true` becomes the `replay` marker (an own marker wins), removed from `data`.
 */
export const normalize = (json: unknown): unknown => {
  if (!isRecord(json)) return json
  const missingCorrelation = json["correlationId"] === undefined && typeof json["id"] === "string"
  const data = json["data"]
  const replayed = isRecord(data) && data["__replay"] === true
  if (!missingCorrelation && !replayed) return json
  const out: Record<string, unknown> = { ...json }
  if (missingCorrelation) out["correlationId"] = json["id"]
  if (replayed) {
    const { __replay: _flag, ...clean } = data
    out["data"] = clean
    if (out["replay"] === undefined) out["replay"] = { jobId: jobIdOf(out["correlationId"]) }
  }
  return out
}

// `replay-<jobId>` as the seeds write it; any other correlation id is kept whole, so the marker still says which
// run of events it belongs to.
const jobIdOf = (correlationId: unknown): unknown =>
  typeof correlationId === "string" && correlationId.startsWith(replayPrefix) && correlationId.length > replayPrefix.length ?
    correlationId.slice(replayPrefix.length) :
    correlationId

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
