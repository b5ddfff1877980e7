import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { ApprovalApproved, Envelope, EventError } from "../src/index.ts"
import { headerOrder, meta, traceparent } from "./fixtures.ts"

const raw: Envelope.Raw = {
  ...meta,
  type: "approval.approved",
  version: "1.0",
  data: { approvalId: "apr_1", decidedById: "user_2", decision: "approved" }
}

// The raw envelope with a JSON payload: `Schema.Unknown` would also generate values JSON cannot carry.
const RawWithJsonData = Envelope.Raw.mapFields((fields) => ({ ...fields, data: Schema.Json }))

const malformed = (text: string) => Effect.flip(Envelope.decodeJson(text))

describe("Envelope", () => {
  describe("decodeJson / encodeJson", () => {
    it.effect("writes the header fields in the seeds' order and reads them back", () =>
      Effect.gen(function*() {
        const text = Envelope.encodeJson({ ...raw, causationId: "evt_0", traceparent })
        assert.deepStrictEqual(Object.keys(JSON.parse(text)), [...headerOrder, "causationId", "traceparent"])
        assert.deepStrictEqual(yield* Envelope.decodeJson(text), { ...raw, causationId: "evt_0", traceparent })
      }))

    it.effect.prop("encodeJson and decodeJson are exact inverses", [RawWithJsonData], ([envelope]) =>
      Effect.gen(function*() {
        const text = Envelope.encodeJson(envelope)
        assert.strictEqual(text, Schema.encodeSync(Envelope.RawJson)(envelope), "the same text as the schema codec")
        const decoded = yield* Envelope.decodeJson(text)
        // The header comes back as it was; the payload as JSON carries it (JSON writes -0 as 0).
        assert.deepStrictEqual(decoded, { ...envelope, data: JSON.parse(JSON.stringify(envelope.data)) })
        assert.strictEqual(Envelope.encodeJson(decoded), text)
      }))

    it.effect("leaves the payload undecoded", () =>
      Effect.gen(function*() {
        const decoded = yield* Envelope.decodeJson(JSON.stringify({ ...raw, data: [1, "two", null] }))
        assert.deepStrictEqual(decoded.data, [1, "two", null])
      }))

    it.effect("a replay marker travels as a typed header field", () =>
      Effect.gen(function*() {
        const replayed = { ...raw, replay: { jobId: "job_1", originalEventId: meta.id } }
        const decoded = yield* Envelope.decodeJson(Envelope.encodeJson(replayed))
        assert.deepStrictEqual(decoded.replay, { jobId: "job_1", originalEventId: meta.id })
      }))

    it.effect("text that is not JSON is a MalformedEnvelope", () =>
      Effect.gen(function*() {
        const error = yield* malformed("{not json")
        assert.instanceOf(error, EventError.MalformedEnvelope)
        assert.strictEqual(error.raw, "{not json")
        assert.strictEqual(error.issues.length, 1)
        assert.strictEqual(error.issues[0]?.path, "")
        assert.match(error.issues[0]?.message ?? "", /^Expected JSON text: /)
      }))

    it.effect("reports every invalid header field, not only the first", () =>
      Effect.gen(function*() {
        const { source: _source, ...withoutSource } = raw
        const error = yield* malformed(JSON.stringify({ ...withoutSource, id: "", timestamp: "yesterday" }))
        assert.deepStrictEqual(error.issues.map((issue) => issue.path), ["id", "source", "timestamp"])
        assert.include(error.message, "source: Missing key")
      }))

    it.effect("a missing payload is a MalformedEnvelope", () =>
      Effect.gen(function*() {
        const { data: _data, ...withoutData } = raw
        const error = yield* malformed(JSON.stringify(withoutData))
        assert.deepStrictEqual(error.issues, [{ path: "data", message: "Missing key" }])
      }))

    it.effect("keeps at most 1024 characters of the offending text", () =>
      Effect.gen(function*() {
        const error = yield* malformed(`"${"x".repeat(5000)}"`)
        assert.strictEqual(error.raw?.length, 1024)
      }))

    it.effect("an optional header field is absent or valid, never undefined", () =>
      Effect.gen(function*() {
        const error = yield* malformed(JSON.stringify({ ...raw, causationId: null }))
        assert.deepStrictEqual(error.issues.map((issue) => issue.path), ["causationId"])
      }))
  })

  describe("Timestamp", () => {
    const isTimestamp = Schema.is(Envelope.Timestamp)

    it("accepts RFC 3339 timestamps with a zone", () => {
      for (
        const valid of [
          "2026-01-31T12:00:00.000Z",
          "2026-01-31T12:00:00Z",
          "2024-02-29T23:59:59.123456+02:00",
          "2000-02-29T00:00:00Z",
          "2026-12-31T00:00:00-05:30",
          "2026-09-30T00:00:00Z",
          "0001-01-01T00:00:00Z"
        ]
      ) assert.isTrue(isTimestamp(valid), valid)
    })

    it("rejects other strings and impossible dates", () => {
      for (
        const invalid of [
          "",
          "2026-01-31",
          "2026-01-31T12:00:00",
          "2026-01-31 12:00:00Z",
          "2026-13-01T00:00:00Z",
          "2026-02-29T00:00:00Z",
          "2100-02-29T00:00:00Z",
          "2026-04-31T00:00:00Z",
          "2026-11-31T00:00:00Z",
          "1900-02-29T00:00:00Z",
          "2026-01-31T24:00:00Z",
          "2026-01-31T12:00:00.Z",
          "1700000000000"
        ]
      ) assert.isFalse(isTimestamp(invalid), invalid)
    })

    it.effect("currentTimestamp reads the Clock", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 31, 12, 0, 0, 5))
        assert.strictEqual(yield* Envelope.currentTimestamp, "2026-01-31T12:00:00.005Z")
      }))
  })

  describe("Traceparent", () => {
    const isTraceparent = Schema.is(Envelope.Traceparent)

    it("accepts a W3C traceparent", () => {
      assert.isTrue(isTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
      assert.isTrue(isTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
      // Zeros are allowed, only not all of an id; `f` is allowed in the version, only not `ff`.
      assert.isTrue(isTraceparent("fe-00000000000000000000000000000001-0000000000000001-01"))
      assert.isTrue(isTraceparent("0f-10000000000000000000000000000000-1000000000000000-01"))
    })

    it("rejects version ff, all-zero ids, uppercase hex and wrong lengths", () => {
      for (
        const invalid of [
          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
          "ff-00000000000000000000000000000000-0000000000000000-00",
          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
          "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
        ]
      ) assert.isFalse(isTraceparent(invalid), invalid)
    })
  })

  describe("schema", () => {
    it("fixes type and version to the event type's and decodes data with its payload", () => {
      const decode = Schema.decodeUnknownSync(Envelope.schema(ApprovalApproved))
      assert.deepStrictEqual(decode(raw), raw)
      assert.throws(() => decode({ ...raw, type: "approval.rejected" }))
      assert.throws(() => decode({ ...raw, version: "0.9" }))
      assert.throws(() => decode({ ...raw, data: { approvalId: "apr_1" } }))
    })
  })
})
