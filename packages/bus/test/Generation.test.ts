/**
 * A key's generation (`internal/redisStream.ts`): what the readers waiting on a key listen to. Its
 * listeners are plain callbacks, and each one unsubscribes from every key it waited on when it fires.
 */
import { assert, describe, it } from "@effect/vitest"
import { Generation } from "../src/internal/redisStream.ts"

describe("Generation", () => {
  it("ending calls every listener once, also when each one unsubscribes as it fires", () => {
    const generation = new Generation()
    const called: Array<number> = []
    const offs: Array<() => void> = []
    for (let i = 0; i < 5; i++) {
      offs.push(generation.listen(() => {
        called.push(i)
        offs[i]!()
      }))
    }
    generation.end()
    generation.end()
    assert.deepStrictEqual(called, [0, 1, 2, 3, 4])
  })

  it("a listener that unsubscribed before the end is not called; one added after the end is called at once", () => {
    const generation = new Generation()
    const called: Array<string> = []
    const off = generation.listen(() => called.push("gone"))
    generation.listen(() => called.push("stays"))
    off()
    generation.end()
    generation.listen(() => called.push("late"))
    assert.deepStrictEqual(called, ["stays", "late"])
  })
})
