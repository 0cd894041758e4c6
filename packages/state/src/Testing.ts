/**
 * The published conformance suite of shared state: the cases every
 * `SharedState` layer passes (memory, SQLite, Postgres), as data, and the
 * harness a layer of your own needs to run them under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/state/Testing"
 *
 * Conformance.conformance("my SharedState", {
 *   extra: { mine: Testing.harness((options) => myLayer(options)) }
 * }, Testing.suite)
 * ```
 *
 * Every case builds its stores through the harness, from a fresh harness;
 * a layer that keeps its data elsewhere (a Redis, a table) must start each
 * build of the harness layer empty. Cases run under `TestClock` unless they
 * are marked `live` (the lock cases that wait for a lease to expire by the
 * store's clock, and the change feed).
 *
 * Needs the optional peer dependencies `@agentos/testkit`, `@effect/vitest`
 * and `vitest`. `index.ts` does not re-export this module.
 *
 * @since 0.2.0
 */
import type { JsonObject, JsonValue } from "@agentos/core/Json"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type * as Entry from "./Entry.js"
import * as Errors from "./Errors.js"
import * as SharedState from "./SharedState.js"

/**
 * What the cases use to build stores: `make(options)` builds a store with
 * these options over the case's backend (each call a new layer build, within
 * the case's scope).
 *
 * @since 0.2.0
 * @category models
 */
export interface HarnessService {
  readonly make: (
    options: SharedState.SqlStoreOptions
  ) => Effect.Effect<SharedState.SharedStateService, unknown, Scope.Scope>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class Harness extends Context.Tag("@agentos/state/Testing/Harness")<Harness, HarnessService>() {}

/**
 * The harness of a layer: `makeLayer` builds a `SharedState` layer from a
 * case's options (strategies, merges and schemas per prefix, the history
 * limit; a layer of your own that has no such option must still honour it,
 * or fail its cases). The harness is a layer itself, built afresh for every
 * case; what `makeLayer`'s layers need (`R`, e.g. a `SqlClient`) is provided
 * to the harness.
 *
 * @since 0.2.0
 * @category constructors
 */
export const harness = <E, R>(
  makeLayer: (options: SharedState.SqlStoreOptions) => Layer.Layer<SharedState.SharedState, E, R>
): Layer.Layer<Harness, never, R> =>
  Layer.effect(
    Harness,
    Effect.map(Effect.context<R>(), (context) =>
      Harness.of({
        make: (options) =>
          Layer.build(makeLayer(options)).pipe(
            Effect.map((built) => Context.get(built, SharedState.SharedState)),
            Effect.provide(context)
          )
      }))
  )

/**
 * The store of a case, built with `storeOptions` (default: `options`)
 * through the case's harness.
 *
 * @since 0.2.0
 * @category accessors
 */
export const store = (
  storeOptions: SharedState.SqlStoreOptions = options
): Effect.Effect<SharedState.SharedStateService, unknown, Harness | Scope.Scope> =>
  Effect.flatMap(Harness, (h) => h.make(storeOptions))

/**
 * The error of an effect that must fail (the case fails if it succeeds).
 *
 * @since 0.2.0
 * @category utils
 */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.either(effect), (either) =>
    Either.isLeft(either)
      ? Effect.succeed(either.left)
      : Effect.dieMessage(`expected a failure, got ${JSON.stringify(either.right)}`))

const valueOf = (entry: Option.Option<Entry.Entry>) => Option.getOrThrow(entry).value
const versionOf = (entry: Option.Option<Entry.Entry>) => Option.getOrThrow(entry).version

/**
 * The store options the suite's cases assume unless they say otherwise: the
 * default strategy `reject`, a history of 5 versions, and per-prefix
 * strategies, merges and a schema. `state()` builds a store with them.
 *
 * @since 0.2.0
 * @category fixtures
 */
export const options: SharedState.SqlStoreOptions = {
  strategy: "reject",
  historyLimit: 5,
  pollInterval: "20 millis",
  prefixes: [
    { prefix: "merge/", strategy: "merge" },
    { prefix: "merge/incoming/", strategy: "merge", merge: { precedence: "incoming" } },
    { prefix: "merge/union/", strategy: "merge", merge: { arrays: "union" } },
    { prefix: "merge/concat/", strategy: "merge", merge: { arrays: "concat" } },
    {
      prefix: "merge/custom/",
      strategy: "merge",
      merge: (current: JsonObject, incoming: JsonObject, context) => ({
        total: (current.total as number) + (incoming.total as number),
        lastMergeBy: context.agent
      })
    },
    { prefix: "lww/", strategy: "last-write-wins" },
    { prefix: "fww/", strategy: "first-write-wins" },
    {
      prefix: "typed/",
      strategy: "merge",
      merge: { arrays: "concat" },
      schema: Schema.Struct({
        name: Schema.String,
        age: Schema.Int.pipe(Schema.between(0, 150)),
        tags: Schema.optional(Schema.Array(Schema.String).pipe(Schema.maxItems(2)))
      })
    }
  ]
}

/**
 * The store options of the cases on store-wide defaults (`strategy`,
 * `merge`) and how a prefix overrides only what it sets: the main options
 * use the store default `reject`, which is also the built-in default, so
 * they cannot tell whether the store's own setting is applied.
 *
 * @since 0.2.0
 * @category fixtures
 */
export const defaultsOptions: SharedState.StoreOptions = {
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
const conflicting = (
  state: SharedState.SharedStateService,
  key: string,
  first: JsonObject,
  second: JsonObject,
  stale: JsonObject
) =>
  Effect.gen(function*() {
    yield* state.set(key, first, { agent: "a" })
    yield* state.set(key, second, { agent: "b", expectedVersion: 1 })
    return yield* Effect.either(state.set(key, stale, { agent: "c", expectedVersion: 1 }))
  })

/**
 * Subscribes to `changes(prefix)` and returns once the subscription provably
 * sees writes (a probe key under the prefix, written until it arrives), with
 * a fiber collecting the next `n` versions other than the probe's. No sleep
 * has to guess how long subscribing takes on a loaded machine.
 *
 * @since 0.2.0
 * @category utils
 */
export const collectChanges = (
  state: SharedState.SharedStateService,
  prefix: string,
  n: number
): Effect.Effect<Fiber.RuntimeFiber<ReadonlyArray<Entry.Version>, Errors.StoreError>> =>
  Effect.gen(function*() {
    const probe = `${prefix}~probe`
    const ready = yield* Deferred.make<void>()
    const collector = yield* Effect.fork(
      state.changes(prefix).pipe(
        Stream.tap((version) => version.key === probe ? Deferred.succeed(ready, undefined) : Effect.void),
        Stream.filter((version) => version.key !== probe),
        Stream.take(n),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
    )
    const probing = yield* Effect.fork(
      Effect.forever(
        Effect.zipRight(Effect.ignore(state.set(probe, {}, { agent: "probe" })), Effect.sleep("30 millis"))
      )
    )
    yield* Deferred.await(ready)
    yield* Fiber.interrupt(probing)
    return collector
  })

/**
 * The cases every `SharedState` layer passes.
 *
 * @since 0.2.0
 * @category suites
 */
export const suite: Conformance.Suite<Harness> = [
  Conformance.test(
    "get of an absent key is none; set creates version 1 with value, writer and Clock time",
    Effect.gen(function*() {
      const state = yield* store()
      assert.isTrue(Option.isNone(yield* state.get("a")))
      yield* TestClock.setTime(1_700_000_000_000)
      const result = yield* state.set("a", { x: 1, nested: { list: [1, "two", null, true] } }, { agent: "alice" })
      assert.isTrue(result.applied)
      assert.strictEqual(result.outcome, "written")
      const entry = Option.getOrThrow(yield* state.get("a"))
      assert.deepStrictEqual(entry, {
        key: "a",
        value: { x: 1, nested: { list: [1, "two", null, true] } },
        version: 1,
        modifiedBy: ["alice"],
        updatedAt: 1_700_000_000_000
      })
      assert.deepStrictEqual(Option.getOrThrow(result.entry), entry)
    })
  ),
  Conformance.test(
    "a stored value is a copy: mutating the input afterwards changes nothing, nor the entry the write returned",
    Effect.gen(function*() {
      const state = yield* store()
      const input = { list: [1, 2], inner: { k: "v" } }
      const result = yield* state.set("a", input, { agent: "alice" })
      const overwrite = { list: [0] }
      const overwritten = yield* state.set("a", overwrite, {
        agent: "bob",
        expectedVersion: 0,
        strategy: "last-write-wins"
      })
      input.list.push(3)
      input.inner.k = "changed"
      overwrite.list.push(1)
      assert.deepStrictEqual(valueOf(result.entry), { list: [1, 2], inner: { k: "v" } })
      assert.deepStrictEqual(valueOf(overwritten.entry), { list: [0] })
      assert.deepStrictEqual(valueOf(yield* state.get("a")), { list: [0] })
      assert.deepStrictEqual((yield* state.history("a")).map((v) => v.value), [
        { list: [1, 2], inner: { k: "v" } },
        { list: [0] }
      ])
    })
  ),
  Conformance.test(
    "a stored -0 reads back as 0, as JSON stores it (JSON.stringify(-0) is \"0\"), on every backend",
    Effect.gen(function*() {
      const state = yield* store()
      const isPositiveZero = (value: unknown) => Object.is(value, 0)
      const result = yield* state.set("z", { a: -0, list: [-0], inner: { b: -0 } }, { agent: "alice" })
      for (
        const value of [valueOf(result.entry), valueOf(yield* state.get("z")), (yield* state.history("z"))[0]!.value!]
      ) {
        assert.isTrue(isPositiveZero(value.a), "a")
        assert.isTrue(isPositiveZero((value.list as ReadonlyArray<unknown>)[0]), "list[0]")
        assert.isTrue(isPositiveZero((value.inner as JsonObject).b), "inner.b")
      }
    })
  ),
  Conformance.test(
    "a value nested past 256 levels is InvalidValue on every backend, a scalar at the deepest level included",
    Effect.gen(function*() {
      const state = yield* store()
      // `levels` objects around `leaf`: the leaf sits at depth `levels` (the outer object at 0).
      const nested = (levels: number, leaf: JsonValue): JsonObject => {
        let value: JsonValue = leaf
        for (let i = 0; i < levels; i++) value = { a: value }
        return value as JsonObject
      }
      for (const leaf of [1, "s", null, true]) {
        yield* state.set("deep", nested(256, leaf), { agent: "a" })
        const result = yield* Effect.either(state.set("deep", nested(257, leaf), { agent: "a" }))
        assert.isTrue(
          Either.isLeft(result) && result.left._tag === "InvalidValue",
          `leaf ${JSON.stringify(leaf)} at depth 257: ${Either.isLeft(result) ? result.left._tag : "written"}`
        )
      }
      assert.strictEqual(versionOf(yield* state.get("deep")), 4)
    })
  ),
  Conformance.test(
    "a NUL character or a lone surrogate in a value, a key or an agent is InvalidValue or InvalidInput on every backend, and nothing is written",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("text", { s: "ok 👋" }, { agent: "a" })
      for (const value of [{ s: "a\u0000b" }, { "k\u0000": 1 }, { s: "\ud83d" }, { deep: [{ s: "x\udc00" }] }]) {
        const result = yield* Effect.either(state.set("text", value, { agent: "a" }))
        assert.isTrue(
          Either.isLeft(result) && result.left._tag === "InvalidValue",
          `${JSON.stringify(value)}: ${Either.isLeft(result) ? result.left._tag : "written"}`
        )
      }
      for (const [key, agent] of [["k\u0000", "a"], ["text", "a\u0000"], ["\udc00", "a"]] as const) {
        const result = yield* Effect.either(state.set(key, { s: "fine" }, { agent }))
        assert.isTrue(
          Either.isLeft(result) && result.left._tag === "InvalidInput",
          `${JSON.stringify([key, agent])}: ${Either.isLeft(result) ? result.left._tag : "written"}`
        )
      }
      const listed = yield* Effect.either(state.list("te\u0000"))
      assert.isTrue(Either.isLeft(listed) && listed.left._tag === "InvalidInput")
      const entry = Option.getOrThrow(yield* state.get("text"))
      assert.deepStrictEqual([entry.value, entry.version], [{ s: "ok 👋" }, 1])
    })
  ),
  Conformance.test(
    "a value that is not an object (an array, null, a string) is InvalidValue on every backend, and nothing is written",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("shape", { v: 1 }, { agent: "a" })
      for (const value of [[1, 2], null, "text", 3]) {
        const result = yield* Effect.either(state.set("shape", value as never, { agent: "a" }))
        assert.isTrue(
          Either.isLeft(result) && result.left._tag === "InvalidValue" &&
            /expected a JSON object/.test(result.left.message),
          `${JSON.stringify(value)}: ${Either.isLeft(result) ? result.left.message : "written"}`
        )
      }
      const entry = Option.getOrThrow(yield* state.get("shape"))
      assert.deepStrictEqual([entry.value, entry.version], [{ v: 1 }, 1])
    })
  ),
  Conformance.test(
    "unconditional writes and matching compare-and-set bump the version by one",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("k", { n: 1 }, { agent: "a" })
      yield* state.set("k", { n: 2 }, { agent: "b" })
      const cas = yield* state.set("k", { n: 3 }, { agent: "c", expectedVersion: 2 })
      assert.strictEqual(cas.outcome, "written")
      assert.strictEqual(versionOf(cas.entry), 3)
      const entry = Option.getOrThrow(yield* state.get("k"))
      assert.deepStrictEqual([entry.value, entry.version, entry.modifiedBy], [{ n: 3 }, 3, ["c"]])
    })
  ),
  Conformance.test(
    "expectedVersion 0 creates only an absent key",
    Effect.gen(function*() {
      const state = yield* store()
      const created = yield* state.set("k", { n: 1 }, { agent: "a", expectedVersion: 0 })
      assert.strictEqual(versionOf(created.entry), 1)
      const conflict = yield* failure(state.set("k", { n: 2 }, { agent: "b", expectedVersion: 0 }))
      assert.strictEqual(conflict._tag, "VersionConflict")
      assert.deepStrictEqual(valueOf(yield* state.get("k")), { n: 1 })
    })
  ),
  Conformance.test(
    "reject: a stale write fails with VersionConflict carrying the current version, value and writer; nothing changes",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("doc", { title: "v1" }, { agent: "alice" })
      yield* state.set("doc", { title: "v2" }, { agent: "bob", expectedVersion: 1 })
      const error = yield* failure(state.set("doc", { title: "stale" }, { agent: "alice", expectedVersion: 1 }))
      assert.instanceOf(error, Errors.VersionConflict)
      if (error._tag !== "VersionConflict") return
      assert.deepStrictEqual(
        [error.key, error.expectedVersion, error.currentVersion, error.currentValue, error.modifiedBy],
        ["doc", 1, 2, { title: "v2" }, ["bob"]]
      )
      const entry = Option.getOrThrow(yield* state.get("doc"))
      assert.deepStrictEqual([entry.value, entry.version], [{ title: "v2" }, 2])
      assert.strictEqual((yield* state.history("doc")).length, 2)
    })
  ),
  Conformance.test(
    "reject on an absent key: VersionConflict with current version 0 and value null",
    Effect.gen(function*() {
      const state = yield* store()
      const error = yield* failure(state.set("none", { a: 1 }, { agent: "a", expectedVersion: 3 }))
      assert.strictEqual(error._tag, "VersionConflict")
      if (error._tag !== "VersionConflict") return
      assert.deepStrictEqual([error.currentVersion, error.currentValue, error.modifiedBy], [0, null, []])
      assert.isTrue(Option.isNone(yield* state.get("none")))
    })
  ),
  Conformance.test(
    "first-write-wins: a stale write is not applied and says why; the first write stays",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("fww/k", { v: "first" }, { agent: "a" })
      yield* state.set("fww/k", { v: "second" }, { agent: "b", expectedVersion: 1 })
      const result = yield* state.set("fww/k", { v: "stale" }, { agent: "c", expectedVersion: 1 })
      assert.isFalse(result.applied)
      assert.strictEqual(result.outcome, "kept-current")
      assert.deepStrictEqual(result.conflict, { expectedVersion: 1, currentVersion: 2 })
      assert.deepStrictEqual(valueOf(result.entry), { v: "second" })
      assert.strictEqual(versionOf(yield* state.get("fww/k")), 2)
    })
  ),
  Conformance.test(
    "last-write-wins: a stale write overwrites and reports the conflict",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("lww/k", { v: 1, extra: true }, { agent: "a" })
      yield* state.set("lww/k", { v: 2 }, { agent: "b" })
      const result = yield* state.set("lww/k", { v: 3 }, { agent: "c", expectedVersion: 1 })
      assert.isTrue(result.applied)
      assert.strictEqual(result.outcome, "overwritten")
      assert.deepStrictEqual(result.conflict, { expectedVersion: 1, currentVersion: 2 })
      const entry = Option.getOrThrow(yield* state.get("lww/k"))
      assert.deepStrictEqual([entry.value, entry.version, entry.modifiedBy], [{ v: 3 }, 3, ["c"]])
    })
  ),
  Conformance.test(
    "the per-call strategy overrides the store's and the prefix's",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("k", { v: 1 }, { agent: "a" })
      yield* state.set("k", { v: 2 }, { agent: "a" })
      const result = yield* state.set("k", { v: 3 }, { agent: "b", expectedVersion: 1, strategy: "last-write-wins" })
      assert.strictEqual(result.outcome, "overwritten")
      yield* state.set("lww/k", { v: 1 }, { agent: "a" })
      yield* state.set("lww/k", { v: 2 }, { agent: "a" })
      const rejected = yield* failure(
        state.set("lww/k", { v: 3 }, { agent: "b", expectedVersion: 1, strategy: "reject" })
      )
      assert.strictEqual(rejected._tag, "VersionConflict")
    })
  ),
  Conformance.test(
    "merge (default): deep merge, current wins on scalars, incoming adds keys, arrays replace; records both agents",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("merge/p", { theme: "dark", tags: ["a"], profile: { name: "Ann" } }, { agent: "alice" })
      yield* state.set("merge/p", { theme: "dark", tags: ["a"], profile: { name: "Ann", city: "Oslo" } }, {
        agent: "bob",
        expectedVersion: 1
      })
      const result = yield* state.set(
        "merge/p",
        { theme: "light", tags: ["b"], profile: { name: "Anna", lang: "no" }, fresh: 1 },
        { agent: "carol", expectedVersion: 1 }
      )
      assert.strictEqual(result.outcome, "merged")
      const entry = Option.getOrThrow(yield* state.get("merge/p"))
      assert.deepStrictEqual(entry.value, {
        theme: "dark",
        tags: ["a"],
        profile: { name: "Ann", city: "Oslo", lang: "no" },
        fresh: 1
      })
      assert.strictEqual(entry.version, 3)
      assert.deepStrictEqual(entry.modifiedBy, ["bob", "carol"])
    })
  ),
  Conformance.test(
    "merge variants by prefix: incoming precedence, array union, array concat, a user function",
    Effect.gen(function*() {
      const state = yield* store()
      const conflicting = (key: string, first: JsonObject, second: JsonObject, third: JsonObject) =>
        Effect.gen(function*() {
          yield* state.set(key, first, { agent: "a" })
          yield* state.set(key, second, { agent: "b", expectedVersion: 1 })
          yield* state.set(key, third, { agent: "c", expectedVersion: 1 })
          return valueOf(yield* state.get(key))
        })
      assert.deepStrictEqual(
        yield* conflicting("merge/incoming/x", { a: 1 }, { a: 2, b: [1] }, { a: 3, b: [2], c: true }),
        { a: 3, b: [2], c: true }
      )
      assert.deepStrictEqual(
        yield* conflicting("merge/union/x", { l: [] }, { l: [1, { k: 1 }] }, { l: [{ k: 1 }, 2, 1] }),
        { l: [1, { k: 1 }, 2] }
      )
      assert.deepStrictEqual(
        yield* conflicting("merge/concat/x", { l: [] }, { l: [1] }, { l: [1, 2] }),
        { l: [1, 1, 2] }
      )
      assert.deepStrictEqual(
        yield* conflicting("merge/custom/x", { total: 0 }, { total: 5 }, { total: 7 }),
        { total: 12, lastMergeBy: "c" }
      )
    })
  ),
  Conformance.test(
    "a schema per prefix: a value that does not decode is InvalidValue and nothing is written",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("typed/u1", { name: "Ann", age: 30 }, { agent: "a" })
      const bad = yield* failure(state.set("typed/u1", { name: "Ann", age: -1 }, { agent: "a" }))
      assert.strictEqual(bad._tag, "InvalidValue")
      const missing = yield* failure(state.set("typed/u2", { age: 3 }, { agent: "a" }))
      assert.strictEqual(missing._tag, "InvalidValue")
      assert.deepStrictEqual(valueOf(yield* state.get("typed/u1")), { name: "Ann", age: 30 })
      assert.isTrue(Option.isNone(yield* state.get("typed/u2")))
      // A merge whose result would not decode is refused too (tags concatenate past 2 items).
      yield* state.set("typed/u1", { name: "Ann", age: 31, tags: ["a", "b"] }, { agent: "b", expectedVersion: 1 })
      const merged = yield* failure(
        state.set("typed/u1", { name: "Bo", age: 20, tags: ["c"] }, { agent: "c", expectedVersion: 1 })
      )
      assert.strictEqual(merged._tag, "InvalidValue")
      const entry = Option.getOrThrow(yield* state.get("typed/u1"))
      assert.deepStrictEqual([entry.value, entry.version], [{ name: "Ann", age: 31, tags: ["a", "b"] }, 2])
    })
  ),
  Conformance.test(
    "bad input is a typed error and writes nothing",
    Effect.gen(function*() {
      const state = yield* store()
      const cases: ReadonlyArray<readonly [Effect.Effect<unknown, unknown>, string]> = [
        [state.set("", { a: 1 }, { agent: "a" }), "InvalidInput"],
        [state.set("k", { a: 1 }, { agent: "" }), "InvalidInput"],
        [state.set("k", { a: 1 }, { agent: "a", expectedVersion: -1 }), "InvalidInput"],
        [state.set("k", { a: 1 }, { agent: "a", expectedVersion: 1.5 }), "InvalidInput"],
        [state.set("k", { a: 1 }, { agent: "a", strategy: "whatever" as never }), "InvalidInput"],
        [state.set("k", [1, 2] as never, { agent: "a" }), "InvalidValue"],
        [state.set("k", { a: Number.NaN }, { agent: "a" }), "InvalidValue"],
        [state.set("k", { a: new Date() } as never, { agent: "a" }), "InvalidValue"],
        [state.set("k", { a: undefined } as never, { agent: "a" }), "InvalidValue"],
        [state.list("", { limit: 0 }), "InvalidInput"],
        [state.getAt("k", 0), "InvalidInput"],
        [state.delete("k", { agent: "a", expectedVersion: -2 }), "InvalidInput"]
      ]
      for (const [effect, tag] of cases) {
        const error = yield* failure(effect)
        assert.strictEqual((error as { _tag: string })._tag, tag)
      }
      // update checks its request before it runs `f`.
      let ran = 0
      const counted = () => {
        ran++
        return { a: 1 }
      }
      for (
        const bad of [
          state.update("", counted, { agent: "a" }),
          state.update("k", counted, { agent: "" }),
          state.update("k", counted, { agent: "a", fence: 0 })
        ]
      ) {
        assert.strictEqual((yield* failure(bad))._tag, "InvalidInput")
      }
      assert.strictEqual(ran, 0)
      assert.isTrue(Option.isNone(yield* state.get("k")))
      assert.deepStrictEqual(yield* state.history("k"), [])
    })
  ),
  Conformance.test(
    "delete: checks the expected version, removes the key, and versions continue after it (no reuse)",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("k", { n: 1 }, { agent: "a" })
      yield* state.set("k", { n: 2 }, { agent: "a" })
      const conflict = yield* failure(state.delete("k", { agent: "b", expectedVersion: 1 }))
      assert.strictEqual(conflict._tag, "VersionConflict")
      assert.isTrue(Option.isSome(yield* state.get("k")))
      assert.isTrue(yield* state.delete("k", { agent: "b", expectedVersion: 2 }))
      assert.isTrue(Option.isNone(yield* state.get("k")))
      assert.isFalse(yield* state.delete("k", { agent: "b" }))
      assert.isFalse(yield* state.delete("k", { agent: "b", expectedVersion: 0 }))
      // A writer that read version 2 before the delete cannot write back.
      const stale = yield* failure(state.set("k", { n: 99 }, { agent: "a", expectedVersion: 2 }))
      assert.strictEqual(stale._tag, "VersionConflict")
      const recreated = yield* state.set("k", { n: 3 }, { agent: "c", expectedVersion: 0 })
      assert.strictEqual(versionOf(recreated.entry), 4)
      const history = yield* state.history("k")
      assert.deepStrictEqual(history.map((v) => [v.version, v.value]), [[1, { n: 1 }], [2, { n: 2 }], [3, null], [4, {
        n: 3
      }]])
    })
  ),
  Conformance.test(
    "list: live keys under a prefix in key order, paged with a cursor",
    Effect.gen(function*() {
      const state = yield* store()
      for (const key of ["u/c", "u/a", "v/a", "u/b", "u/d", "u", "u/e"]) yield* state.set(key, { key }, { agent: "a" })
      yield* state.delete("u/d", { agent: "a" })
      const first = yield* state.list("u/", { limit: 2 })
      assert.deepStrictEqual(first.entries.map((e) => e.key), ["u/a", "u/b"])
      assert.deepStrictEqual(first.entries[0]!.value, { key: "u/a" })
      const second = yield* state.list("u/", { limit: 2, cursor: Option.getOrThrow(first.cursor) })
      assert.deepStrictEqual(second.entries.map((e) => e.key), ["u/c", "u/e"])
      assert.isTrue(Option.isNone(second.cursor))
      const exact = yield* state.list("u/", { limit: 4 })
      assert.deepStrictEqual(exact.entries.map((e) => e.key), ["u/a", "u/b", "u/c", "u/e"])
      assert.isTrue(Option.isNone(exact.cursor))
      const past = yield* state.list("u/", { cursor: "u/e" })
      assert.deepStrictEqual(past.entries, [])
      const all = yield* state.list("")
      assert.deepStrictEqual(all.entries.map((e) => e.key), ["u", "u/a", "u/b", "u/c", "u/e", "v/a"])
      assert.isTrue(Option.isNone(all.cursor))
      assert.deepStrictEqual((yield* state.list("u/a")).entries.map((e) => e.key), ["u/a"])
      assert.deepStrictEqual((yield* state.list("%")).entries, [])
    })
  ),
  Conformance.test(
    "history keeps the last N versions (N = 5 here), oldest first; getAt reads one of them",
    Effect.gen(function*() {
      const state = yield* store()
      for (let n = 1; n <= 8; n++) yield* state.set("h", { n }, { agent: `agent-${n}` })
      const history = yield* state.history("h")
      assert.deepStrictEqual(history.map((v) => v.version), [4, 5, 6, 7, 8])
      assert.deepStrictEqual(history[0]!.value, { n: 4 })
      assert.deepStrictEqual(history[0]!.modifiedBy, ["agent-4"])
      const at6 = Option.getOrThrow(yield* state.getAt("h", 6))
      assert.deepStrictEqual([at6.value, at6.version, at6.key], [{ n: 6 }, 6, "h"])
      assert.isTrue(Option.isNone(yield* state.getAt("h", 2)))
      assert.isTrue(Option.isNone(yield* state.getAt("h", 9)))
      assert.deepStrictEqual(yield* state.history("other"), [])
    })
  ),
  Conformance.test(
    "update: read-apply-CAS; creates an absent key; retries a lost race and counts it",
    Effect.gen(function*() {
      const state = yield* store()
      const created = yield* state.update("c", (current) => ({ n: Option.isNone(current) ? 1 : -1 }), { agent: "a" })
      assert.deepStrictEqual([created.entry.value, created.attempts, created.conflicts], [{ n: 1 }, 1, 0])
      let sneaked = false
      const result = yield* state.update(
        "c",
        (current) =>
          Effect.gen(function*() {
            const n = Option.getOrThrow(current).value.n as number
            if (!sneaked) {
              // Another agent writes between our read and our write.
              sneaked = true
              yield* state.set("c", { n: n + 100 }, { agent: "b" })
            }
            return { n: n + 1 }
          }),
        { agent: "a", schedule: Schedule.recurs(3) }
      )
      assert.deepStrictEqual([result.attempts, result.conflicts], [2, 1])
      assert.deepStrictEqual(result.entry.value, { n: 102 })
      assert.deepStrictEqual(result.entry.modifiedBy, ["a"])
      assert.deepStrictEqual(valueOf(yield* state.get("c")), { n: 102 })
    })
  ),
  Conformance.test(
    "update gives up with VersionConflict when the schedule is exhausted; f's own errors pass through",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("c", { n: 0 }, { agent: "a" })
      let attempts = 0
      const error = yield* failure(state.update("c", (current) =>
        Effect.gen(function*() {
          attempts++
          yield* state.set("c", { n: 0 }, { agent: "rival" })
          return Option.getOrThrow(current).value
        }), { agent: "a", schedule: Schedule.recurs(2) }))
      assert.strictEqual(error._tag, "VersionConflict")
      assert.strictEqual(attempts, 3)
      const own = yield* failure(state.update("c", () => Effect.fail("nope" as const), { agent: "a" }))
      assert.strictEqual(own, "nope")
    })
  ),
  Conformance.test(
    "withLock: fences increase per key; while held a write without the fence is KeyLocked, with it succeeds",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("doc", { v: 0 }, { agent: "a" })
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const lock = yield* state.withLock("doc", { agent: "a" })
        const locked = yield* failure(state.set("doc", { v: 1 }, { agent: "b" }))
        assert.strictEqual(locked._tag, "KeyLocked")
        if (locked._tag === "KeyLocked") assert.strictEqual(locked.holder, "a")
        assert.strictEqual((yield* failure(state.delete("doc", { agent: "b" })))._tag, "KeyLocked")
        assert.strictEqual(
          (yield* failure(state.update("doc", () => ({ v: 9 }), { agent: "b" })))._tag,
          "KeyLocked"
        )
        yield* state.set("doc", { v: 1 }, { agent: "a", fence: lock.fence })
        return lock.fence
      }))
      assert.strictEqual(first, 1)
      // Released: anyone may write without a fence, and the next grant has a higher fence.
      yield* state.set("doc", { v: 2 }, { agent: "b" })
      const second = yield* Effect.scoped(Effect.map(state.withLock("doc", { agent: "b" }), (lock) => lock.fence))
      assert.strictEqual(second, 2)
      const stale = yield* failure(state.set("doc", { v: 3 }, { agent: "a", fence: first }))
      assert.strictEqual(stale._tag, "StaleFence")
      if (stale._tag === "StaleFence") assert.deepStrictEqual([stale.fence, stale.newestFence], [1, 2])
      const bogus = yield* failure(state.set("doc", { v: 3 }, { agent: "a", fence: 7 }))
      assert.strictEqual(bogus._tag, "StaleFence")
      const neverLocked = yield* failure(state.set("other", { v: 3 }, { agent: "a", fence: 1 }))
      assert.strictEqual(neverLocked._tag, "StaleFence")
      assert.deepStrictEqual(valueOf(yield* state.get("doc")), { v: 2 })
      // Locks are per key.
      const a = yield* Effect.scoped(Effect.map(state.withLock("x", { agent: "a" }), (lock) => lock.fence))
      assert.strictEqual(a, 1)
    })
  ),
  Conformance.test(
    "withLock: another agent times out with LockTimeout; re-entrant for the same agent (same fence, released by the outermost)",
    Effect.gen(function*() {
      const state = yield* store()
      const outer = yield* Scope.make()
      const lock = yield* Scope.extend(state.withLock("k", { agent: "a" }), outer)
      const timeout = yield* failure(state.withLock("k", { agent: "b", wait: 0 }))
      assert.strictEqual(timeout._tag, "LockTimeout")
      const inner = yield* Scope.make()
      const again = yield* Scope.extend(state.withLock("k", { agent: "a", wait: 0 }), inner)
      assert.strictEqual(again.fence, lock.fence)
      yield* Scope.close(inner, Exit.void)
      // Still held by the outer grant.
      assert.strictEqual((yield* failure(state.withLock("k", { agent: "b", wait: 0 })))._tag, "LockTimeout")
      assert.strictEqual((yield* failure(state.set("k", { v: 1 }, { agent: "b" })))._tag, "KeyLocked")
      yield* state.set("k", { v: 1 }, { agent: "a", fence: lock.fence })
      yield* Scope.close(outer, Exit.void)
      const next = yield* Effect.scoped(Effect.map(state.withLock("k", { agent: "b", wait: 0 }), (l) => l.fence))
      assert.strictEqual(next, lock.fence + 1)
      const bad = yield* failure(Effect.scoped(state.withLock("k", { agent: "b", ttl: 0 })))
      assert.strictEqual(bad._tag, "InvalidInput")
    })
  ),
  Conformance.test(
    "a holder paused past its lease cannot write once a new holder has the lock, nor release it",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("job", { owner: "none" }, { agent: "setup" })
      const scopeA = yield* Scope.make()
      const a = yield* Scope.extend(state.withLock("job", { agent: "a", ttl: "150 millis" }), scopeA)
      // b waits for the lease to expire (judged by the store's clock).
      const b = yield* state.withLock("job", { agent: "b", ttl: "10 seconds", wait: "3 seconds" })
      assert.isTrue(b.fence > a.fence)
      const paused = yield* failure(state.set("job", { owner: "a" }, { agent: "a", fence: a.fence }))
      assert.strictEqual(paused._tag, "StaleFence")
      const pausedUpdate = yield* failure(state.update("job", () => ({ owner: "a" }), { agent: "a", fence: a.fence }))
      assert.strictEqual(pausedUpdate._tag, "StaleFence")
      yield* state.set("job", { owner: "b" }, { agent: "b", fence: b.fence })
      // a's late release does not free b's lock.
      yield* Scope.close(scopeA, Exit.void)
      assert.strictEqual((yield* failure(state.withLock("job", { agent: "c", wait: 0 })))._tag, "LockTimeout")
      assert.strictEqual((yield* failure(state.set("job", { owner: "c" }, { agent: "c" })))._tag, "KeyLocked")
      assert.deepStrictEqual(valueOf(yield* state.get("job")), { owner: "b" })
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "the same agent after its lease expired gets a new fence (its old one is stale); fences keep growing after a delete",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("k", { v: 0 }, { agent: "a" })
      const scopeA = yield* Scope.make()
      const a1 = yield* Scope.extend(state.withLock("k", { agent: "a", ttl: "100 millis" }), scopeA)
      yield* Effect.sleep("250 millis")
      const scopeB = yield* Scope.make()
      const a2 = yield* Scope.extend(state.withLock("k", { agent: "a", wait: 0 }), scopeB)
      assert.strictEqual(a2.fence, a1.fence + 1)
      const stale = yield* failure(state.set("k", { v: 1 }, { agent: "a", fence: a1.fence }))
      assert.strictEqual(stale._tag, "StaleFence")
      assert.isTrue(yield* state.delete("k", { agent: "a", fence: a2.fence }))
      yield* Scope.close(scopeA, Exit.void)
      // The first grant's late release did not free the second.
      assert.strictEqual((yield* failure(state.withLock("k", { agent: "b", wait: 0 })))._tag, "LockTimeout")
      yield* Scope.close(scopeB, Exit.void)
      const b = yield* Effect.scoped(Effect.map(state.withLock("k", { agent: "b", wait: 0 }), (lock) => lock.fence))
      assert.strictEqual(b, a2.fence + 1)
      assert.isTrue(Option.isNone(yield* state.get("k")))
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "an interrupted withLock waiter holds nothing; a lock granted in a scope is released when it closes",
    Effect.gen(function*() {
      const state = yield* store()
      const scopeA = yield* Scope.make()
      yield* Scope.extend(state.withLock("i", { agent: "a" }), scopeA)
      const waiter = yield* Effect.fork(Effect.scoped(state.withLock("i", { agent: "b", wait: "5 seconds" })))
      yield* Effect.sleep("60 millis")
      yield* Fiber.interrupt(waiter)
      yield* Scope.close(scopeA, Exit.void)
      const c = yield* Effect.scoped(Effect.map(state.withLock("i", { agent: "c", wait: 0 }), (lock) => lock.fence))
      assert.strictEqual(c, 2)
      // c's scope closed: released, so d gets the next fence at once.
      const d = yield* Effect.scoped(Effect.map(state.withLock("i", { agent: "d", wait: 0 }), (lock) => lock.fence))
      assert.strictEqual(d, 3)
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "withLock waits for a release by the holder",
    Effect.gen(function*() {
      const state = yield* store()
      const scopeA = yield* Scope.make()
      yield* Scope.extend(state.withLock("w", { agent: "a", ttl: "30 seconds" }), scopeA)
      const waiter = yield* Effect.fork(
        Effect.scoped(Effect.map(state.withLock("w", { agent: "b", wait: "5 seconds" }), (lock) => lock.fence))
      )
      yield* Effect.sleep("100 millis")
      yield* Scope.close(scopeA, Exit.void)
      assert.strictEqual(yield* Fiber.join(waiter), 2)
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "changes: a stream of committed versions under a key prefix, in commit order, deletes included",
    Effect.gen(function*() {
      const state = yield* store()
      yield* state.set("feed/old", { n: 0 }, { agent: "a" })
      const collected = yield* collectChanges(state, "feed/", 4)
      yield* state.set("feed/a", { n: 1 }, { agent: "a" })
      yield* state.set("other/x", { n: 2 }, { agent: "a" })
      yield* state.set("feed/b", { n: 3 }, { agent: "b" })
      yield* state.set("feed/a", { n: 4 }, { agent: "b", expectedVersion: 1 })
      yield* Effect.either(state.set("feed/a", { n: 5 }, { agent: "b", expectedVersion: 1 }))
      yield* state.delete("feed/b", { agent: "c" })
      const versions = yield* Fiber.join(collected).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(
        versions.map((v) => [v.key, v.version, v.value, v.modifiedBy[0]]),
        [["feed/a", 1, { n: 1 }, "a"], ["feed/b", 1, { n: 3 }, "b"], ["feed/a", 2, { n: 4 }, "b"], [
          "feed/b",
          2,
          null,
          "c"
        ]]
      )
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "changes: history trimmed before the subscription (gaps in the sequence) does not hold the feed back",
    Effect.gen(function*() {
      const state = yield* store()
      for (let n = 1; n <= 30; n++) yield* state.set("trimmed", { n }, { agent: "a" })
      const collected = yield* collectChanges(state, "trimmed", 2)
      yield* state.set("trimmed", { n: 31 }, { agent: "a" })
      yield* state.set("trimmed", { n: 32 }, { agent: "a" })
      const versions = yield* Fiber.join(collected).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(versions.map((v) => v.version), [31, 32])
    }),
    { live: true, timeout: 15_000 }
  ),
  Conformance.test(
    "concurrent updates by several agents lose no increment (live)",
    Effect.gen(function*() {
      const state = yield* store()
      const results = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => `agent-${i}`),
        (agent) =>
          Effect.forEach(
            Array.from({ length: 10 }),
            () =>
              state.update(
                "counter",
                (current) =>
                  Effect.as(Effect.yieldNow(), {
                    n: Option.match(current, { onNone: () => 0, onSome: (e) => e.value.n as number }) + 1
                  }),
                { agent }
              )
          ),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(valueOf(yield* state.get("counter")), { n: 80 })
      assert.strictEqual(results.flat().length, 80)
    }),
    { live: true, timeout: 30_000 }
  ),
  Conformance.test(
    "store defaults: a key under no prefix follows the store's strategy and merge (merge, incoming wins, arrays union)",
    Effect.gen(function*() {
      const state = yield* store(defaultsOptions)
      const result = yield* conflicting(state, "k", { a: 1, l: [1] }, { a: 2, l: [1, 2], b: true }, { a: 3, l: [3, 1] })
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      assert.strictEqual(result.right.outcome, "merged")
      const entry = Option.getOrThrow(result.right.entry)
      assert.deepStrictEqual(entry.value, { a: 3, l: [1, 2, 3], b: true })
      assert.deepStrictEqual(entry.modifiedBy, ["b", "c"])
    })
  ),
  Conformance.test(
    "store defaults: a prefix that sets a strategy overrides the store's (reject, first-write-wins)",
    Effect.gen(function*() {
      const state = yield* store(defaultsOptions)
      const rejected = yield* conflicting(state, "strict/k", { a: 1 }, { a: 2 }, { a: 3 })
      assert.isTrue(Either.isLeft(rejected) && rejected.left._tag === "VersionConflict")
      const kept = yield* conflicting(state, "keep/k", { a: 1 }, { a: 2 }, { a: 3 })
      assert.isTrue(Either.isRight(kept) && kept.right.outcome === "kept-current" && !kept.right.applied)
      assert.deepStrictEqual(Option.getOrThrow(yield* state.get("strict/k")).value, { a: 2 })
      assert.deepStrictEqual(Option.getOrThrow(yield* state.get("keep/k")).value, { a: 2 })
    })
  ),
  Conformance.test(
    "store defaults: a prefix that sets only its merge keeps the store's strategy; one that sets only a strategy keeps the store's merge",
    Effect.gen(function*() {
      const state = yield* store(defaultsOptions)
      const concat = yield* conflicting(state, "concat/k", { l: [] }, { a: 1, l: [1] }, { a: 2, l: [1, 2] })
      assert.isTrue(Either.isRight(concat) && concat.right.outcome === "merged")
      if (Either.isRight(concat)) {
        // Its own arrays option (concat); precedence is the built-in default (current wins), not the store's.
        assert.deepStrictEqual(Option.getOrThrow(concat.right.entry).value, { a: 1, l: [1, 1, 2] })
      }
      const merged = yield* conflicting(state, "merged/k", { l: [] }, { a: 1, l: [1] }, { a: 2, l: [2, 1] })
      assert.isTrue(Either.isRight(merged) && merged.right.outcome === "merged")
      if (Either.isRight(merged)) {
        assert.deepStrictEqual(Option.getOrThrow(merged.right.entry).value, { a: 2, l: [1, 2] })
      }
    })
  )
]
