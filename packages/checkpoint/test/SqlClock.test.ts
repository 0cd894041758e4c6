// On SQL a lease is judged by the database's clock, so that processes whose
// clocks disagree agree on who holds a workflow. Here the runner's Effect
// Clock (a TestClock) and the database's clock disagree on purpose: only the
// database's counts. (The memory and file stores follow the Effect Clock.)
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { CheckpointStore, layerSql } from "../src/CheckpointStore.js"

const id = "wf-clock" as WorkflowId

describe("CheckpointStore.layerSql leases", () => {
  for (const backend of Backends.sqlBackends()) {
    it.effect(
      `a lease expires by the database's clock, not the runner's Effect Clock — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const store = yield* CheckpointStore
          const first = yield* store.acquire(id, "runner-a", 500)
          // The Effect Clock jumps an hour ahead: for the database the lease is still live.
          yield* TestClock.adjust("1 hour")
          const early = yield* Effect.flip(store.acquire(id, "runner-b", 500))
          assert.strictEqual(early._tag, "WorkflowBusy")
          if (early._tag === "WorkflowBusy") assert.isTrue(early.retryAfterMillis > 0 && early.retryAfterMillis <= 500)
          assert.isTrue(yield* store.requestCancel(id))
          // Real time passes the lease while the Effect Clock stands still: now it has expired.
          yield* TestServices.provideLive(Effect.sleep("700 millis"))
          assert.isFalse(yield* store.requestCancel(id))
          const second = yield* store.acquire(id, "runner-b", 500)
          assert.strictEqual(second.epoch, first.epoch + 1)
          assert.strictEqual((yield* Effect.flip(store.renew(first)))._tag, "LeaseLost")
        }).pipe(Effect.provide(layerSql().pipe(Layer.provide(backend.layer)))),
      30_000
    )
  }
})
