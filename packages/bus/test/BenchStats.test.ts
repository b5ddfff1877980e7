/**
 * The bench's verdicts on ratio targets rest on `medianInterval` (`bench/lib.ts`): a
 * distribution-free confidence interval for a median, from order statistics.
 */
import { assert, describe, it } from "@effect/vitest"
import { median, medianInterval } from "../bench/lib.ts"

// 1 - 2 * P(Binomial(n, 1/2) < k), summed directly.
const coverage = (n: number, k: number) => {
  let below = 0
  let choose = 1
  for (let i = 0; i < k; i++) {
    below += choose / 2 ** n
    choose = (choose * (n - i)) / (i + 1)
  }
  return 1 - 2 * below
}

describe("medianInterval", () => {
  it("is undefined when even min–max covers less than the level", () => {
    assert.isUndefined(medianInterval([0.8, 0.9, 1.0]), "min–max of 3 covers 75 %")
    assert.isUndefined(medianInterval([]))
    assert.isDefined(medianInterval([0.8, 0.9, 1.0], 0.75))
  })

  it("is min–max at 5 and 7 values, and narrows by order statistics as the values grow", () => {
    // Unsorted input, as the rounds come.
    assert.deepStrictEqual(medianInterval([5, 1, 4, 2, 3]), { low: 1, high: 5, coverage: coverage(5, 1) })
    assert.strictEqual(medianInterval([5, 1, 4, 2, 3])!.coverage, 0.9375)
    assert.deepStrictEqual(medianInterval([7, 6, 5, 4, 3, 2, 1]), { low: 1, high: 7, coverage: coverage(7, 1) })
    // Nine values: the 2nd lowest to the 2nd highest (96.1 %; the 3rd would cover 82.0 %).
    const nine = [9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert.deepStrictEqual(medianInterval(nine), { low: 2, high: 8, coverage: coverage(9, 2) })
    assert.isBelow(coverage(9, 3), 0.9)
    // Fifteen: the 4th to the 12th (96.5 %; the 5th would cover 88.2 %).
    const fifteen = Array.from({ length: 15 }, (_, i) => 15 - i)
    assert.deepStrictEqual(medianInterval(fifteen), { low: 4, high: 12, coverage: coverage(15, 4) })
    assert.isBelow(coverage(15, 5), 0.9)
  })

  it("holds the median, leaves out values that are not numbers, and follows the level asked", () => {
    const values = [0.63, 0.98, 0.81, 0.86, 0.8, 0.82, 0.88, 0.75, 0.99, 0.9, 0.67, 0.79, 0.85, 0.82, 0.78]
    const interval = medianInterval([...values, Number.NaN, Number.POSITIVE_INFINITY])!
    assert.deepStrictEqual(interval, medianInterval(values))
    assert.isAtMost(interval.low, median(values))
    assert.isAtLeast(interval.high, median(values))
    const wider = medianInterval(values, 0.99)!
    assert.isAtMost(wider.low, interval.low)
    assert.isAtLeast(wider.high, interval.high)
    assert.isAtLeast(wider.coverage, 0.99)
  })
})
