import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Json from "../src/Json.js"

// Values that are JSON, and values with something that is not JSON somewhere
// inside: NaN, undefined, a Date, a NUL character, a lone surrogate, -0.
const leaf = FastCheck.oneof(
  FastCheck.string(),
  FastCheck.integer(),
  FastCheck.double(),
  FastCheck.boolean(),
  FastCheck.constant(null),
  FastCheck.constant(undefined),
  FastCheck.constant(-0),
  FastCheck.constant("a\u0000b"),
  FastCheck.constant("\uD800"),
  FastCheck.constant(new Date(0))
)
const value = FastCheck.letrec((tie) => ({
  node: FastCheck.oneof(
    { depthSize: "small" },
    leaf,
    FastCheck.array(tie("node")),
    FastCheck.dictionary(FastCheck.oneof(FastCheck.string(), FastCheck.constant("\uDC00")), tie("node"))
  )
})).node

const deep = (depth: number, inner: unknown): unknown => {
  let out = inner
  for (let i = 0; i < depth; i++) out = [out]
  return out
}

describe("Json walks", () => {
  it("isJson, findInvalid and frozenCopy agree on every value", () => {
    FastCheck.assert(
      FastCheck.property(value, (v) => {
        const invalid = Json.findInvalid(v)
        assert.strictEqual(Json.isJson(v), invalid === undefined)
        const copy = Json.frozenCopy(v)
        if (invalid === undefined) {
          assert.isTrue(Either.isRight(copy))
          const copied = Either.getOrThrow(copy)
          assert.deepStrictEqual(copied, JSON.parse(JSON.stringify(v)))
          if (typeof copied === "object" && copied !== null) assert.isTrue(Object.isFrozen(copied))
        } else {
          assert.deepStrictEqual(copy, Either.left(invalid))
        }
      }),
      { numRuns: 500 }
    )
  })

  it("count depth the same way: a scalar just past the nesting limit is refused", () => {
    assert.isTrue(Json.isJson(deep(256, 1)))
    assert.isFalse(Json.isJson(deep(257, 1)))
    assert.match(Json.findInvalid(deep(257, 1))!, /nested deeper than 256 levels/)
    assert.isTrue(Either.isLeft(Json.frozenCopy(deep(257, null))))
  })

  it("frozenCopy copies -0 as 0, keeps a __proto__ key as data, and shares nothing with its input", () => {
    const input = JSON.parse(`{"__proto__": {"x": 1}, "n": -0, "list": [1, {"a": 2}]}`)
    input.n = -0
    const copy = Either.getOrThrow(Json.frozenCopy(input)) as Record<string, any>
    assert.isTrue(Object.is(copy.n, 0))
    assert.deepStrictEqual(Object.keys(copy), ["__proto__", "n", "list"])
    assert.strictEqual(Object.getPrototypeOf(copy), Object.prototype)
    input.list[1].a = 3
    assert.strictEqual(copy.list[1].a, 2)
  })
})
