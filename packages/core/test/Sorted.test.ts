import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Sorted from "../src/Sorted.js"

describe("Sorted", () => {
  it("insert and remove keep an array sorted and without duplicates, as a sorted set would", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.tuple(FastCheck.boolean(), FastCheck.string({ maxLength: 3 }))),
        (ops) => {
          const sorted: Array<string> = []
          const model = new Set<string>()
          for (const [add, value] of ops) {
            if (add) {
              assert.strictEqual(Sorted.insert(sorted, value), !model.has(value))
              model.add(value)
            } else {
              assert.strictEqual(Sorted.remove(sorted, value), model.delete(value))
            }
          }
          assert.deepStrictEqual(sorted, [...model].sort())
        }
      )
    )
  })

  it("lowerBound finds the first element not less than the value", () => {
    const sorted = ["a", "c", "c", "e"]
    assert.strictEqual(Sorted.lowerBound(sorted, ""), 0)
    assert.strictEqual(Sorted.lowerBound(sorted, "b"), 1)
    assert.strictEqual(Sorted.lowerBound(sorted, "c"), 1)
    assert.strictEqual(Sorted.lowerBound(sorted, "d"), 3)
    assert.strictEqual(Sorted.lowerBound(sorted, "z"), 4)
  })
})
