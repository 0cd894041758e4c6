// The store-wide defaults (`strategy`, `merge`) and how a prefix overrides
// only what it sets. The main conformance suite runs with the store default
// `reject`, which is also the built-in default, so it cannot tell whether
// the store's own setting is applied: this suite uses other defaults.
import type { JsonObject } from "@agentos/core/Json"
import { Conformance } from "@agentos/testkit"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { SharedState } from "../src/index.js"

const { SharedState: Tag } = SharedState

const options: SharedState.StoreOptions = {
  strategy: "merge",
  merge: { precedence: "incoming", arrays: "union" },
  prefixes: [
    { prefix: "strict/", strategy: "reject" },
    { prefix: "keep/", strategy: "first-write-wins" },
    // Sets only its merge: the store's strategy (merge) applies.
    { prefix: "concat/", merge: { arrays: "concat" } },
    // Sets only its strategy: the store's merge applies.
    { prefix: "merged/", strategy: "merge" }
  ]
}

/** Writes `first`, then `second` at version 1, then `stale` also at version 1 (a conflict). */
const conflicting = (key: string, first: JsonObject, second: JsonObject, stale: JsonObject) =>
  Effect.gen(function*() {
    const state = yield* Tag
    yield* state.set(key, first, { agent: "a" })
    yield* state.set(key, second, { agent: "b", expectedVersion: 1 })
    return yield* Effect.either(state.set(key, stale, { agent: "c", expectedVersion: 1 }))
  })

const suite: Conformance.Suite<SharedState.SharedState> = [
  Conformance.test(
    "a key under no prefix follows the store's strategy and merge (merge, incoming wins, arrays union)",
    Effect.gen(function*() {
      const result = yield* conflicting("k", { a: 1, l: [1] }, { a: 2, l: [1, 2], b: true }, { a: 3, l: [3, 1] })
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      assert.strictEqual(result.right.outcome, "merged")
      const entry = Option.getOrThrow(result.right.entry)
      assert.deepStrictEqual(entry.value, { a: 3, l: [1, 2, 3], b: true })
      assert.deepStrictEqual(entry.modifiedBy, ["b", "c"])
    })
  ),
  Conformance.test(
    "a prefix that sets a strategy overrides the store's (reject, first-write-wins)",
    Effect.gen(function*() {
      const rejected = yield* conflicting("strict/k", { a: 1 }, { a: 2 }, { a: 3 })
      assert.isTrue(Either.isLeft(rejected) && rejected.left._tag === "VersionConflict")
      const kept = yield* conflicting("keep/k", { a: 1 }, { a: 2 }, { a: 3 })
      assert.isTrue(Either.isRight(kept) && kept.right.outcome === "kept-current" && !kept.right.applied)
      const state = yield* Tag
      assert.deepStrictEqual(Option.getOrThrow(yield* state.get("strict/k")).value, { a: 2 })
      assert.deepStrictEqual(Option.getOrThrow(yield* state.get("keep/k")).value, { a: 2 })
    })
  ),
  Conformance.test(
    "a prefix that sets only its merge keeps the store's strategy; one that sets only a strategy keeps the store's merge",
    Effect.gen(function*() {
      const concat = yield* conflicting("concat/k", { l: [] }, { a: 1, l: [1] }, { a: 2, l: [1, 2] })
      assert.isTrue(Either.isRight(concat) && concat.right.outcome === "merged")
      if (Either.isRight(concat)) {
        // Its own arrays option (concat); precedence is the built-in default (current wins), not the store's.
        assert.deepStrictEqual(Option.getOrThrow(concat.right.entry).value, { a: 1, l: [1, 1, 2] })
      }
      const merged = yield* conflicting("merged/k", { l: [] }, { a: 1, l: [1] }, { a: 2, l: [2, 1] })
      assert.isTrue(Either.isRight(merged) && merged.right.outcome === "merged")
      if (Either.isRight(merged)) {
        assert.deepStrictEqual(Option.getOrThrow(merged.right.entry).value, { a: 2, l: [1, 2] })
      }
    })
  )
]

Conformance.conformance(
  "SharedState store defaults",
  { memory: SharedState.layerMemory(options), sql: SharedState.layerSql(options) },
  suite
)
