// Races that only Postgres has (many connections, commits out of order):
// each case holds a transaction open on one pooled connection while another
// connection writes, and checks how the two are ordered.
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { SharedState } from "../src/index.js"
import { collectChanges } from "../src/Testing.js"

const layer = () =>
  SharedState.layerSql({ pollInterval: "20 millis", prefixes: [{ prefix: "merge/", strategy: "merge" }] }).pipe(
    Layer.provideMerge(Backends.postgres())
  )

describe.skipIf(Backends.pgUrl() === undefined && !Backends.isCI())("SharedState on Postgres: races", () => {
  it.live(
    "the change feed delivers a write that commits long (3 s) after a later write, never skipping it",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = yield* SharedState.SharedState
        const feed = yield* collectChanges(state, "feed/", 2)
        const written = yield* Deferred.make<void>()
        // feed/a takes the lower sequence number and commits 3 s later.
        const slow = yield* Effect.fork(sql.withTransaction(
          Effect.zipRight(
            Effect.zipRight(state.set("feed/a", { n: 1 }, { agent: "slow" }), Deferred.succeed(written, undefined)),
            Effect.sleep("3 seconds")
          )
        ))
        yield* Deferred.await(written)
        yield* state.set("feed/b", { n: 2 }, { agent: "fast" })
        yield* Fiber.join(slow)
        const seen = yield* Fiber.join(feed).pipe(Effect.timeout("10 seconds"))
        assert.deepStrictEqual(seen.map((v) => v.key).sort(), ["feed/a", "feed/b"])
      }).pipe(Effect.provide(layer())),
    30_000
  )

  it.live(
    "the change feed delivers a write that was in flight at subscription, and not one committed before it",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = yield* SharedState.SharedState
        const written = yield* Deferred.make<void>()
        const commit = yield* Deferred.make<void>()
        // feed/a takes sequence number 1 and commits after the subscription.
        const slow = yield* Effect.fork(sql.withTransaction(
          Effect.zipRight(
            Effect.zipRight(state.set("feed/a", { n: 1 }, { agent: "slow" }), Deferred.succeed(written, undefined)),
            Deferred.await(commit)
          )
        ))
        yield* Deferred.await(written)
        yield* state.set("feed/before", { n: 2 }, { agent: "fast" })
        const feed = yield* collectChanges(state, "feed/", 2)
        yield* Deferred.succeed(commit, undefined)
        yield* Fiber.join(slow)
        yield* state.set("feed/after", { n: 3 }, { agent: "fast" })
        const seen = yield* Fiber.join(feed).pipe(Effect.timeout("10 seconds"))
        assert.deepStrictEqual(seen.map((v) => v.key), ["feed/a", "feed/after"])
      }).pipe(Effect.provide(layer())),
    30_000
  )

  it.live(
    "a write in flight when a key's first lock is granted commits before the grant",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = yield* SharedState.SharedState
        const written = yield* Deferred.make<void>()
        const writer = yield* Effect.fork(sql.withTransaction(
          Effect.zipRight(
            Effect.zipRight(state.set("doc", { by: "w" }, { agent: "w" }), Deferred.succeed(written, undefined)),
            Effect.sleep("500 millis")
          )
        ))
        yield* Deferred.await(written)
        const value = yield* Effect.scoped(Effect.gen(function*() {
          const lock = yield* state.withLock("doc", { agent: "holder", wait: "5 seconds" })
          assert.strictEqual(lock.fence, 1)
          // The holder sees the write that was in flight: it committed first.
          return Option.getOrNull(Option.map(yield* state.get("doc"), (entry) => entry.value))
        }))
        yield* Fiber.join(writer)
        assert.deepStrictEqual(value, { by: "w" })
      }).pipe(Effect.provide(layer())),
    30_000
  )

  it.live(
    "a write that starts while a key's first grant is in flight waits for it and fails with KeyLocked",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = yield* SharedState.SharedState
        const granted = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        const granting = yield* Effect.fork(sql.withTransaction(
          Effect.zipRight(
            Effect.zipRight(
              Scope.extend(state.withLock("doc", { agent: "holder" }), scope),
              Deferred.succeed(granted, undefined)
            ),
            Effect.sleep("500 millis")
          )
        ))
        yield* Deferred.await(granted)
        const write = yield* Effect.either(state.set("doc", { by: "w" }, { agent: "w" }))
        yield* Fiber.join(granting)
        assert.isTrue(Either.isLeft(write) && write.left._tag === "KeyLocked", JSON.stringify(write))
        assert.isTrue(Option.isNone(yield* state.get("doc")))
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(layer())),
    30_000
  )

  it.live(
    "merge on a key whose first write is in flight merges into it instead of overwriting it",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const state = yield* SharedState.SharedState
        const written = yield* Deferred.make<void>()
        const first = yield* Effect.fork(sql.withTransaction(
          Effect.zipRight(
            Effect.zipRight(state.set("merge/x", { b: 1 }, { agent: "b" }), Deferred.succeed(written, undefined)),
            Effect.sleep("300 millis")
          )
        ))
        yield* Deferred.await(written)
        const result = yield* state.set("merge/x", { a: 1 }, { agent: "a", expectedVersion: 3 })
        yield* Fiber.join(first)
        assert.strictEqual(result.outcome, "merged")
        const entry = Option.getOrThrow(yield* state.get("merge/x"))
        assert.deepStrictEqual([entry.value, entry.version, entry.modifiedBy], [{ b: 1, a: 1 }, 2, ["b", "a"]])
      }).pipe(Effect.provide(layer())),
    30_000
  )
})
