/**
 * The in-process half of idempotent handling (`internal/settlement.ts`): which copies of an event
 * a subscription skips because another copy runs, or recently completed, in this process.
 */
import { assert, describe, it } from "@effect/vitest"
import { LocalIdempotency } from "../src/internal/settlement.ts"

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => `event-${from + i}`)

describe("LocalIdempotency", () => {
  it("a copy is skipped while the first one runs and after it completed, and runs again after a failure", () => {
    const local = new LocalIdempotency(10)
    assert.isTrue(local.begin("a"))
    assert.isFalse(local.begin("a"), "running")
    local.end("a", false)
    assert.isTrue(local.begin("a"), "the first run failed: a retry runs")
    local.end("a", true)
    assert.isFalse(local.begin("a"), "completed")
  })

  it("remembers at least the latest `capacity` completions, and forgets older ones", () => {
    const capacity = 100
    const local = new LocalIdempotency(capacity)
    const all = ids(0, capacity * 5)
    all.forEach((id, n) => {
      assert.isTrue(local.begin(id))
      local.end(id, true)
      // After every completion, the latest `capacity` of them are still known.
      for (const recent of all.slice(Math.max(0, n + 1 - capacity), n + 1)) assert.isFalse(local.begin(recent), recent)
    })
    // Memory stays bounded: the oldest completions are forgotten (at most 2 × capacity are kept).
    assert.isTrue(local.begin(all[0]!))
    const remembered = all.filter((id) => !local.begin(id)).length
    assert.isAtLeast(remembered, capacity)
    assert.isAtMost(remembered, 2 * capacity + 1)
  })

  it("never forgets an event that is still running, however many others complete meanwhile", () => {
    const local = new LocalIdempotency(10)
    assert.isTrue(local.begin("slow"))
    for (const id of ids(0, 100)) {
      assert.isTrue(local.begin(id))
      local.end(id, true)
    }
    assert.isFalse(local.begin("slow"))
    local.end("slow", true)
    assert.isFalse(local.begin("slow"))
  })
})
