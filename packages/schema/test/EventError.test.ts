import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { EventError } from "../src/index.ts"

describe("EventError", () => {
  it("InvalidPayload lists every issue in its message", () => {
    const error = new EventError.InvalidPayload({
      eventType: "approval.approved",
      issues: [{ path: "decidedById", message: "Missing key" }, { path: "", message: "Expected an object" }]
    })
    assert.strictEqual(
      error.message,
      `Invalid payload for event type "approval.approved": decidedById: Missing key; Expected an object`
    )
  })

  it("UnknownVersion names the known versions", () => {
    const error = new EventError.UnknownVersion({ eventType: "a.b", version: "2.0", known: ["1.0", "0.9"] })
    assert.strictEqual(error.message, `Unknown version "2.0" of event type "a.b" (known versions: 1.0, 0.9)`)
  })

  it("TypeMismatch and InvalidPattern explain themselves", () => {
    assert.strictEqual(
      new EventError.TypeMismatch({ expected: "a.b", actual: "a.c" }).message,
      `Expected an event of type "a.b", got "a.c"`
    )
    assert.strictEqual(
      new EventError.InvalidPattern({ pattern: "a..b", reason: "EmptySegment", segment: 1 }).message,
      `Invalid event pattern "a..b": empty segment at segment 1`
    )
    assert.strictEqual(
      new EventError.InvalidPattern({ pattern: "", reason: "Empty" }).message,
      `Invalid event pattern "": the pattern is empty`
    )
  })

  it("a DecodeError encodes to plain JSON and decodes back, for the dead-letter queue", () => {
    const error = new EventError.MalformedEnvelope({ raw: "{", issues: [{ path: "", message: "bad json" }] })
    const json = Schema.encodeSync(Schema.toCodecJson(EventError.DecodeError))(error)
    assert.deepStrictEqual(json, { _tag: "MalformedEnvelope", raw: "{", issues: [{ path: "", message: "bad json" }] })
    const back = Schema.decodeUnknownSync(Schema.toCodecJson(EventError.DecodeError))(json)
    assert.instanceOf(back, EventError.MalformedEnvelope)
    assert.strictEqual(back.message, error.message)
  })

  it("the guards recognise exactly this module's errors", () => {
    const decodeErrors = [
      new EventError.MalformedEnvelope({ issues: [] }),
      new EventError.InvalidPayload({ eventType: "a.b", issues: [] }),
      new EventError.UnknownVersion({ eventType: "a.b", version: "2", known: [] }),
      new EventError.TypeMismatch({ expected: "a.b", actual: "a.c" })
    ]
    for (const error of decodeErrors) {
      assert.isTrue(EventError.isDecodeError(error))
      assert.isTrue(EventError.isEventError(error))
    }
    const invalidPattern = new EventError.InvalidPattern({ pattern: "", reason: "Empty" })
    assert.isFalse(EventError.isDecodeError(invalidPattern))
    assert.isTrue(EventError.isEventError(invalidPattern))
    assert.isFalse(EventError.isEventError(new Error("x")))
    assert.isFalse(EventError.isDecodeError({ _tag: "InvalidPayload" }))
  })
})
