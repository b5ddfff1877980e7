import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { EventError, EventPattern } from "../src/index.ts"

const names = [
  "approval",
  "approval.approved",
  "approval.rejected",
  "approval.step.approved",
  "approval.step.sub.approved",
  "user.approved",
  "user.joined",
  "approved"
]

// pattern -> the names above it matches
const table: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["approval.approved", ["approval.approved"]],
  ["approval.*", ["approval.approved", "approval.rejected"]],
  ["approval.**", [
    "approval",
    "approval.approved",
    "approval.rejected",
    "approval.step.approved",
    "approval.step.sub.approved"
  ]],
  ["**", names],
  ["*", ["approval", "approved"]],
  ["*.approved", ["approval.approved", "user.approved"]],
  ["approval.*.approved", ["approval.step.approved"]],
  ["approval.**.approved", ["approval.approved", "approval.step.approved", "approval.step.sub.approved"]],
  ["**.approved", [
    "approval.approved",
    "approval.step.approved",
    "approval.step.sub.approved",
    "user.approved",
    "approved"
  ]],
  ["*.*", ["approval.approved", "approval.rejected", "user.approved", "user.joined"]],
  ["*.**", names],
  ["**.*", names],
  ["*.*.**", [
    "approval.approved",
    "approval.rejected",
    "approval.step.approved",
    "approval.step.sub.approved",
    "user.approved",
    "user.joined"
  ]],
  ["**.**.approved", [
    "approval.approved",
    "approval.step.approved",
    "approval.step.sub.approved",
    "user.approved",
    "approved"
  ]],
  ["**.step.**", ["approval.step.approved", "approval.step.sub.approved"]],
  ["user.joined.*", []],
  ["approval", ["approval"]]
]

describe("EventPattern", () => {
  describe("matches", () => {
    for (const [pattern, expected] of table) {
      it(`"${pattern}" matches exactly ${expected.length} of the names`, () => {
        const compiled = EventPattern.makeUnsafe(pattern)
        assert.deepStrictEqual(names.filter((name) => EventPattern.matches(compiled, name)), expected)
      })
    }

    it("a wildcard segment never matches an empty segment", () => {
      assert.isFalse(EventPattern.matches(EventPattern.makeUnsafe("approval.*"), "approval."))
      assert.isFalse(EventPattern.matches(EventPattern.makeUnsafe("*.approved"), ".approved"))
      assert.isFalse(EventPattern.matches(EventPattern.makeUnsafe("approval.*"), "approval"))
    })

    it("collapses runs of ** into one segment", () => {
      assert.deepStrictEqual(EventPattern.makeUnsafe("a.**.**.b").segments, ["a", "**", "b"])
      assert.deepStrictEqual(EventPattern.makeUnsafe("approval.*").segments, ["approval", "*"])
    })
  })

  describe("make", () => {
    it.effect("keeps the pattern as written", () =>
      Effect.gen(function*() {
        const pattern = yield* EventPattern.make("approval.*")
        assert.strictEqual(pattern.pattern, "approval.*")
        assert.isTrue(EventPattern.isEventPattern(pattern))
        assert.isFalse(EventPattern.isEventPattern("approval.*"))
      }))

    const invalid: ReadonlyArray<readonly [string, EventError.InvalidPatternReason, number | undefined]> = [
      ["", "Empty", undefined],
      ["a..b", "EmptySegment", 1],
      ["approval.", "EmptySegment", 1],
      [".approval", "EmptySegment", 0],
      ["Approval.*", "IllegalCharacter", 0],
      ["approval.approved!", "IllegalCharacter", 1],
      ["approval approved", "IllegalCharacter", 0],
      ["approval-flow.*", "IllegalCharacter", 0],
      ["***", "PartialWildcard", 0],
      ["a.b**", "PartialWildcard", 1],
      ["a*", "PartialWildcard", 0],
      ["*a.b", "PartialWildcard", 0]
    ]
    for (const [pattern, reason, segment] of invalid) {
      it.effect(`rejects "${pattern}" as ${reason}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(EventPattern.make(pattern))
          assert.instanceOf(error, EventError.InvalidPattern)
          assert.strictEqual(error.pattern, pattern)
          assert.strictEqual(error.reason, reason)
          assert.strictEqual(error.segment, segment)
          assert.include(error.message, `"${pattern}"`)
        }))
    }

    it("makeUnsafe throws the same InvalidPattern", () => {
      assert.throws(() => EventPattern.makeUnsafe("a..b"), EventError.InvalidPattern)
    })
  })

  it("isPattern tells patterns from plain names", () => {
    assert.isTrue(EventPattern.isPattern("approval.*"))
    assert.isTrue(EventPattern.isPattern("**"))
    assert.isFalse(EventPattern.isPattern("approval.approved"))
  })
})
