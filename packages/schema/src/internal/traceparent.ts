// W3C Trace Context, version-format `version-traceid-parentid-flags`, lowercase hex only.
export const pattern = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/u

const zeroTraceId = "0".repeat(32)
const zeroSpanId = "0".repeat(16)

/**
 * Returns `true` for a pattern-valid traceparent that the spec also allows: version `ff` is forbidden and an
 * all-zero trace id or parent id is invalid. Compares in place (no slices): it runs for every event consumed.
 */
export const isAllowed = (s: string): boolean =>
  !s.startsWith("ff") && !s.startsWith(zeroTraceId, 3) && !s.startsWith(zeroSpanId, 36)
