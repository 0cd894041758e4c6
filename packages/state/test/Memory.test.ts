import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Errors, SharedState } from "../src/index.js"

describe("SharedState.layerMemory", () => {
  it.effect("lease expiry follows the Effect Clock (TestClock)", () =>
    Effect.gen(function*() {
      const state = yield* SharedState.SharedState
      const scopeA = yield* Scope.make()
      const a = yield* Scope.extend(state.withLock("k", { agent: "a", ttl: "10 seconds" }), scopeA)
      yield* TestClock.adjust("9999 millis")
      const early = yield* Effect.either(Effect.scoped(state.withLock("k", { agent: "b", wait: 0 })))
      assert.isTrue(Either.isLeft(early) && early.left._tag === "LockTimeout")
      const locked = yield* Effect.either(state.set("k", { v: 0 }, { agent: "b" }))
      assert.isTrue(Either.isLeft(locked) && locked.left._tag === "KeyLocked")
      // At exactly its expiry the lease is free (core's Lease rule: live while now < expiresAt).
      yield* TestClock.adjust("1 millis")
      yield* state.set("k", { v: 0 }, { agent: "b" })
      const b = yield* Effect.scoped(Effect.map(state.withLock("k", { agent: "b", wait: 0 }), (lock) => lock.fence))
      assert.strictEqual(b, a.fence + 1)
      const stale = yield* Effect.either(state.set("k", { v: 1 }, { agent: "a", fence: a.fence }))
      assert.isTrue(Either.isLeft(stale) && stale.left._tag === "StaleFence")
      yield* Scope.close(scopeA, Exit.void)
    }).pipe(Effect.provide(SharedState.layerMemory())))

  it.effect("history keeps 20 versions by default", () =>
    Effect.gen(function*() {
      const state = yield* SharedState.SharedState
      for (let n = 1; n <= 25; n++) yield* state.set("h", { n }, { agent: "a" })
      const history = yield* state.history("h")
      assert.deepStrictEqual(history.map((v) => v.version), Array.from({ length: 20 }, (_, i) => i + 6))
    }).pipe(Effect.provide(SharedState.layerMemory())))

  it.effect("stored values are frozen: a reader cannot change the store", () =>
    Effect.gen(function*() {
      const state = yield* SharedState.SharedState
      yield* state.set("k", { list: [1], inner: { a: 1 } }, { agent: "a" })
      const entry = yield* state.get("k")
      const value = entry._tag === "Some" ? entry.value.value : {}
      assert.throws(() => {
        ;(value.list as Array<number>).push(2)
      })
      assert.throws(() => {
        ;(value.inner as Record<string, number>).a = 2
      })
    }).pipe(Effect.provide(SharedState.layerMemory())))

  it.effect("bad store options fail with InvalidOptions when the layer is built, before anything runs", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [SharedState.StoreOptions, RegExp]> = [
        [{ historyLimit: 0 }, /historyLimit/],
        [{ updateConcurrency: 0 }, /updateConcurrency/],
        [{ strategy: "nope" as never }, /unknown strategy/],
        [{ prefixes: [{ prefix: "a/" }, { prefix: "a/", strategy: "merge" }] }, /configured twice/],
        [{ prefixes: [{ prefix: 1 as never }] }, /prefix must be a string/],
        [{ merge: { arrays: "zip" as never } }, /invalid merge/],
        [{ prefixes: [{ prefix: "p/", schema: {} as never }] }, /not a Schema/]
      ]
      for (const [options, message] of cases) {
        for (const layer of [SharedState.layerMemory(options), SharedState.layerSql(options)]) {
          // The SQL layer fails before it asks for a connection: no SqlClient is provided.
          const error = yield* Effect.flip(
            Effect.scoped(Layer.build(layer as Layer.Layer<SharedState.SharedState, unknown>))
          )
          assert.instanceOf(error, Errors.InvalidOptions, JSON.stringify(options))
          assert.match((error as Errors.InvalidOptions).message, message)
        }
      }
    }))

  it.effect("a SQL store refuses a pollInterval that is not a finite positive duration", () =>
    Effect.gen(function*() {
      for (const pollInterval of [0, "-1 millis", Infinity, "soon"] as const) {
        const exit = yield* Effect.exit(
          Effect.scoped(Layer.build(
            SharedState.layerSql({ pollInterval: pollInterval as never }).pipe(
              Layer.provide(Backends.sqlite())
            )
          ))
        )
        assert.isTrue(Exit.isFailure(exit), String(pollInterval))
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause)
          assert.instanceOf(error, Errors.InvalidOptions, String(pollInterval))
          assert.match((error as Errors.InvalidOptions).message, /pollInterval/)
        }
      }
    }))
})
