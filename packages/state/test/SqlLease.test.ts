// On SQL a lease is judged by the database's clock, so that processes whose
// clocks disagree agree on who holds a lock. Here the writer's Effect Clock
// (a TestClock) and the database's clock disagree on purpose: only the
// database's counts. (The memory store follows the Effect Clock instead:
// test/Memory.test.ts.)
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { SharedState } from "../src/index.js"

describe("SharedState.layerSql leases", () => {
  for (const backend of Backends.sqlBackends()) {
    it.scoped(
      `a lease expires by the database's clock, not the writer's Effect Clock — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const state = yield* SharedState.SharedState
          yield* state.set("k", { v: 0 }, { agent: "setup" })
          const scopeA = yield* Scope.make()
          const a = yield* Scope.extend(state.withLock("k", { agent: "a", ttl: "400 millis" }), scopeA)
          // The Effect Clock jumps an hour ahead: for the database the lease is still live.
          yield* TestClock.adjust("1 hour")
          const early = yield* Effect.either(Effect.scoped(state.withLock("k", { agent: "b", wait: 0 })))
          assert.isTrue(Either.isLeft(early) && early.left._tag === "LockTimeout", JSON.stringify(early))
          const locked = yield* Effect.either(state.set("k", { v: 1 }, { agent: "b" }))
          assert.isTrue(Either.isLeft(locked) && locked.left._tag === "KeyLocked", JSON.stringify(locked))
          // Real time passes the lease while the Effect Clock stands still: now it has expired.
          yield* TestServices.provideLive(Effect.sleep("600 millis"))
          yield* state.set("k", { v: 2 }, { agent: "b" })
          const b = yield* Scope.extend(state.withLock("k", { agent: "b", wait: 0 }), scopeA)
          assert.strictEqual(b.fence, a.fence + 1)
          const stale = yield* Effect.either(state.set("k", { v: 3 }, { agent: "a", fence: a.fence }))
          assert.isTrue(Either.isLeft(stale) && stale.left._tag === "StaleFence", JSON.stringify(stale))
          yield* Scope.close(scopeA, Exit.void)
        }).pipe(Effect.provide(SharedState.layerSql().pipe(Layer.provide(backend.layer)))),
      30_000
    )
  }
})
