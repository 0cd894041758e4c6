// The one lease rule of core's Lease, on the stores that judge leases by
// Effect's Clock (memory, file): a lease is live while now < expiresAt and
// free from its expiry on — at the very millisecond it expires, another
// runner gets it and nobody can be asked to cancel.
import type { WorkflowId } from "@agentos/core/Ids"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { CheckpointStore, layerMemory } from "../src/CheckpointStore.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"
import * as Workflows from "../src/Workflows.js"
import { fileStore } from "./fixtures.js"

const id = "wf" as WorkflowId

const backends: ReadonlyArray<readonly [string, Layer.Layer<CheckpointStore, unknown>]> = [
  ["memory", layerMemory()],
  ["file", fileStore]
]

describe("lease expiry on the in-process stores", () => {
  for (const [name, layer] of backends) {
    it.scoped(`a lease is held until its expiry and free at it — ${name}`, () =>
      Effect.gen(function*() {
        const store = yield* CheckpointStore
        const first = yield* store.acquire(id, "runner-a", 1_000)
        yield* TestClock.adjust("999 millis")
        const busy = yield* Effect.flip(store.acquire(id, "runner-b", 1_000))
        assert.strictEqual(busy._tag, "WorkflowBusy")
        if (busy._tag === "WorkflowBusy") assert.strictEqual(busy.retryAfterMillis, 1)
        assert.isTrue(yield* store.requestCancel(id))
        yield* TestClock.adjust("1 millis")
        // now == expiresAt: expired.
        const second = yield* store.acquire(id, "runner-b", 1_000)
        assert.strictEqual(second.epoch, first.epoch + 1)
        // The request made of the holder that never released stays for the next one.
        assert.isTrue((yield* store.renew(second)).cancelRequested)
        assert.strictEqual((yield* Effect.flip(store.renew(first)))._tag, "LeaseLost")
      }).pipe(Effect.provide(layer)))

    it.scoped(`nobody can be asked to cancel at the expiry — ${name}`, () =>
      Effect.gen(function*() {
        const store = yield* CheckpointStore
        yield* store.acquire(id, "runner-a", 1_000)
        yield* TestClock.adjust("1 second")
        assert.isFalse(yield* store.requestCancel(id))
      }).pipe(Effect.provide(layer)))
  }
})

describe("Workflows, the deprecated name of WorkflowEngine", () => {
  it("is the same Tag and the same layers", () => {
    assert.strictEqual(Workflows.Workflows, WorkflowEngine.WorkflowEngine)
    assert.strictEqual(Workflows.layer, WorkflowEngine.layer)
    assert.strictEqual(Workflows.layerMemory, WorkflowEngine.layerMemory)
    assert.strictEqual(Workflows.make, WorkflowEngine.make)
  })
})
