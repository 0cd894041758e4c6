// The engine's quick JSON walk (run on every step's state and on the input)
// answers as core's Json.findInvalid does, on every kind of value: what it
// accepted that core refuses would be saved (or fail on Postgres only), what
// it refused that core accepts would fail a step for nothing.
import * as Json from "@agentos/core/Json"
import { assert, describe, it } from "@effect/vitest"
import * as StepJson from "../src/internal/json.js"

const nest = (levels: number, leaf: unknown): unknown => {
  let value: unknown = leaf
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { v: value } : [value]
  return value
}

class Point {
  constructor(readonly x: number) {}
}

const cases: ReadonlyArray<readonly [string, unknown]> = [
  ["plain", { a: 1, b: "two", c: [true, null, { d: -0 }] }],
  ["null prototype", Object.assign(Object.create(null), { a: 1 })],
  ["emoji (surrogate pairs)", { "k😀": "héllo 😀 wörld" }],
  ["NaN", { a: Number.NaN }],
  ["Infinity", [Number.POSITIVE_INFINITY]],
  ["undefined", { a: undefined }],
  ["bigint", { a: 1n }],
  ["function", { a: () => 1 }],
  ["symbol", [Symbol("s")]],
  ["sparse array", [1, , 3]], // eslint-disable-line no-sparse-arrays
  ["Date", { at: new Date(0) }],
  ["Map", { m: new Map() }],
  ["class instance", { p: new Point(1) }],
  ["NUL in a string", { a: "x\u0000y" }],
  ["NUL in a key", { "x\u0000y": 1 }],
  ["lone high surrogate", { a: "x\ud800" }],
  ["lone low surrogate", ["\udc00x"]],
  ["lone surrogate in a key", { "\ud83d": 1 }],
  ["deep under the quick walk", nest(31, "leaf")],
  ["deep past the quick walk", nest(40, "leaf")],
  ["deep past the quick walk, NUL at the bottom", nest(40, "a\u0000")],
  ["past core's limit", nest(300, 1)]
]

describe("the engine's quick JSON walk", () => {
  for (const [name, value] of cases) {
    it(`answers as core's Json.findInvalid: ${name}`, () => {
      assert.strictEqual(StepJson.findInvalid(value), Json.findInvalid(value))
    })
  }
})
