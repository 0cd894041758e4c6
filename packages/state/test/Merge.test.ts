import type { JsonObject, JsonValue } from "@agentos/core/Json"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { Merge } from "../src/index.js"

const isObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const jsonObject: fc.Arbitrary<JsonObject> = fc.dictionary(
  fc.string({ maxLength: 4 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>,
  { maxKeys: 6 }
).map((value) => JSON.parse(JSON.stringify(value)) as JsonObject)

/** The object merges under test: arrays replaced or united, either side winning scalar conflicts. */
const variants: ReadonlyArray<Merge.MergeOptions> = [
  { arrays: "replace" },
  { arrays: "union" },
  { arrays: "replace", precedence: "incoming" },
  { arrays: "union", precedence: "incoming" }
]

/** Every key of `source` is in `result`, and recursively where both sides are objects. */
const keysKept = (source: JsonObject, result: JsonObject): boolean =>
  Object.keys(source).every((key) =>
    Object.prototype.hasOwnProperty.call(result, key) &&
    (!isObject(source[key]) || !isObject(result[key]) || keysKept(source[key], result[key]))
  )

describe("Merge", () => {
  for (const options of variants) {
    const label = `arrays ${options.arrays}, ${options.precedence ?? "current"} wins`
    it.prop(
      `merging the same change twice changes nothing the second time (${label})`,
      [jsonObject, jsonObject],
      ([current, incoming]) => {
        const once = Merge.deepMerge(current, incoming, options)
        const twice = Merge.deepMerge(once, incoming, options)
        assert.isTrue(Merge.jsonEquals(once, twice), JSON.stringify({ once, twice }))
      },
      { fastCheck: { numRuns: 500 } }
    )

    it.prop(
      `no key of either side is lost (${label})`,
      [jsonObject, jsonObject],
      ([current, incoming]) => {
        const merged = Merge.deepMerge(current, incoming, options)
        assert.isTrue(keysKept(current, merged), "a key of the current value was lost")
        assert.isTrue(keysKept(incoming, merged), "a key of the incoming value was lost")
      },
      { fastCheck: { numRuns: 500 } }
    )
  }

  it.prop("neither input is modified", [jsonObject, jsonObject], ([current, incoming]) => {
    const before = JSON.stringify([current, incoming])
    Merge.deepMerge(current, incoming, { arrays: "union" })
    assert.strictEqual(JSON.stringify([current, incoming]), before)
  }, { fastCheck: { numRuns: 200 } })

  it("the article's rule: current wins on scalar conflicts, incoming adds missing keys", () => {
    assert.deepStrictEqual(
      Merge.deepMerge({ a: 1, o: { x: 1 }, l: [1] }, { a: 2, b: 3, o: { x: 2, y: 2 }, l: [2] }),
      { a: 1, b: 3, o: { x: 1, y: 2 }, l: [1] }
    )
    assert.deepStrictEqual(
      Merge.deepMerge({ a: 1, l: [1, 2] }, { a: 2, l: [2, 3] }, { precedence: "incoming", arrays: "union" }),
      { a: 2, l: [1, 2, 3] }
    )
    assert.deepStrictEqual(Merge.deepMerge({ l: [1] }, { l: [1] }, { arrays: "concat" }), { l: [1, 1] })
    // An object against a scalar is a conflict, not a nested merge.
    assert.deepStrictEqual(Merge.deepMerge({ a: { x: 1 } }, { a: 5 }), { a: { x: 1 } })
    assert.deepStrictEqual(Merge.deepMerge({ a: [1] }, { a: { x: 1 } }, { precedence: "incoming" }), { a: { x: 1 } })
  })

  it("a \"__proto__\" key is data, not a prototype", () => {
    const incoming = JSON.parse(`{"__proto__": {"polluted": true}}`) as JsonObject
    const merged = Merge.deepMerge({}, incoming)
    assert.deepStrictEqual(Object.keys(merged), ["__proto__"])
    assert.strictEqual(Object.getPrototypeOf(merged), Object.prototype)
    assert.isUndefined(({} as Record<string, unknown>).polluted)
  })

  it("jsonEquals ignores key order and compares deeply", () => {
    assert.isTrue(Merge.jsonEquals({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }))
    assert.isFalse(Merge.jsonEquals({ a: 1 }, { a: 1, b: 2 }))
    assert.isFalse(Merge.jsonEquals([1, 2], [2, 1]))
    assert.isFalse(Merge.jsonEquals({ a: [] }, { a: {} }))
  })
})
