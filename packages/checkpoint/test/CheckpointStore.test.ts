import type { WorkflowId } from "@agentos/core/Ids"
import { Conformance } from "@agentos/testkit"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Checkpoint, CheckpointStore } from "../src/CheckpointStore.js"
import { checkpoint, realPause, stores } from "./fixtures.js"

const id = (value: string) => value as WorkflowId

const suite: Conformance.Suite<CheckpointStore> = [
  Conformance.test(
    "a fresh store has no checkpoints",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      assert.isTrue(Option.isNone(yield* store.load(id("missing"))))
      assert.deepStrictEqual((yield* store.list()).items, [])
    })
  ),
  Conformance.test(
    "a lease is exclusive, and every grant has a higher epoch",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const first = yield* store.acquire(id("wf"), "runner-a", 30_000)
      assert.strictEqual(first.epoch, 1)
      const busy = yield* Effect.flip(store.acquire(id("wf"), "runner-b", 30_000))
      assert.strictEqual(busy._tag, "WorkflowBusy")
      if (busy._tag === "WorkflowBusy") {
        assert.strictEqual(busy.holder, "runner-a")
        assert.isTrue(busy.retryAfterMillis > 0 && busy.retryAfterMillis <= 30_000)
      }
      yield* store.release(first)
      const second = yield* store.acquire(id("wf"), "runner-b", 30_000)
      assert.strictEqual(second.epoch, 2)
      // Other workflow ids are independent.
      assert.strictEqual((yield* store.acquire(id("other"), "runner-a", 30_000)).epoch, 1)
    })
  ),
  Conformance.test(
    "concurrent acquires of one workflow: exactly one is granted",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const results = yield* Effect.all(
        Array.from({ length: 8 }, (_, i) => Effect.either(store.acquire(id("contended"), `runner-${i}`, 30_000))),
        { concurrency: "unbounded" }
      )
      const granted = results.filter((r) => r._tag === "Right")
      assert.strictEqual(granted.length, 1)
      for (const r of results) if (r._tag === "Left") assert.strictEqual(r.left._tag, "WorkflowBusy")
      if (granted[0]?._tag === "Right") assert.strictEqual(granted[0].right.epoch, 1)
    })
  ),
  Conformance.test(
    "save under the current lease, load returns an equal checkpoint with the epoch",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const lease = yield* store.acquire(id("wf"), "runner-a", 30_000)
      const written = checkpoint("wf", {
        failure: { step: "b", stepIndex: 1, attempts: 3, error: { tag: "Boom", message: "no" }, at: 5 }
      })
      const state = yield* store.save(lease, written)
      assert.isFalse(state.cancelRequested)
      const loaded = yield* store.load(id("wf"))
      assert.deepStrictEqual(loaded, Option.some({ ...written, epoch: lease.epoch }))
      // Overwrite in place.
      yield* store.save(lease, checkpoint("wf", { status: "completed", completedAt: 9, completedSteps: ["a", "b"] }))
      const again = Option.getOrThrow(yield* store.load(id("wf")))
      assert.strictEqual(again.status, "completed")
      assert.strictEqual(again.completedAt, 9)
      assert.isUndefined(again.failure)
      assert.deepStrictEqual(again.completedSteps, ["a", "b"])
    })
  ),
  Conformance.test(
    "a save or renewal from an older epoch is refused and changes nothing",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const old = yield* store.acquire(id("wf"), "runner-a", 30_000)
      yield* store.save(old, checkpoint("wf", { completedSteps: ["a"] }))
      yield* store.release(old)
      const fresh = yield* store.acquire(id("wf"), "runner-b", 30_000)
      const refused = yield* Effect.flip(store.save(old, checkpoint("wf", { completedSteps: ["a", "b"] })))
      assert.strictEqual(refused._tag, "LeaseLost")
      assert.strictEqual((yield* Effect.flip(store.renew(old)))._tag, "LeaseLost")
      const loaded = Option.getOrThrow(yield* store.load(id("wf")))
      assert.deepStrictEqual(loaded.completedSteps, ["a"])
      assert.strictEqual(loaded.epoch, old.epoch)
      yield* store.save(fresh, checkpoint("wf", { completedSteps: ["a", "b"] }))
      assert.strictEqual(Option.getOrThrow(yield* store.load(id("wf"))).epoch, fresh.epoch)
    })
  ),
  Conformance.test(
    "an expired lease is granted to another runner, and the old holder is fenced off",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const old = yield* store.acquire(id("wf"), "runner-a", 150)
      assert.strictEqual((yield* Effect.flip(store.acquire(id("wf"), "runner-b", 150)))._tag, "WorkflowBusy")
      yield* realPause(300)
      const taken = yield* store.acquire(id("wf"), "runner-b", 30_000)
      assert.strictEqual(taken.epoch, old.epoch + 1)
      assert.strictEqual((yield* Effect.flip(store.save(old, checkpoint("wf"))))._tag, "LeaseLost")
      assert.isTrue(Option.isNone(yield* store.load(id("wf"))))
    }),
    { live: true }
  ),
  Conformance.test(
    "renewal keeps a lease alive past its first expiry",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const lease = yield* store.acquire(id("wf"), "runner-a", 400)
      for (let i = 0; i < 3; i++) {
        yield* realPause(200)
        yield* store.renew(lease)
      }
      // 600 ms after the grant, the 400 ms lease is still held thanks to renewals.
      assert.strictEqual((yield* Effect.flip(store.acquire(id("wf"), "runner-b", 400)))._tag, "WorkflowBusy")
    }),
    { live: true }
  ),
  Conformance.test(
    "a cancellation request reaches the holder and is cleared by the next grant",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      assert.isFalse(yield* store.requestCancel(id("wf")))
      const lease = yield* store.acquire(id("wf"), "runner-a", 30_000)
      assert.isFalse((yield* store.renew(lease)).cancelRequested)
      assert.isTrue(yield* store.requestCancel(id("wf")))
      assert.isTrue((yield* store.renew(lease)).cancelRequested)
      assert.isTrue((yield* store.save(lease, checkpoint("wf"))).cancelRequested)
      yield* store.release(lease)
      assert.isFalse(yield* store.requestCancel(id("wf")))
      const next = yield* store.acquire(id("wf"), "runner-b", 30_000)
      assert.isFalse((yield* store.renew(next)).cancelRequested)
    })
  ),
  Conformance.test(
    "a cancellation requested of a holder that died (lease expired, never released) stays for the next holder",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      yield* store.acquire(id("wf"), "dead-runner", 150)
      assert.isTrue(yield* store.requestCancel(id("wf")))
      yield* realPause(300)
      const next = yield* store.acquire(id("wf"), "runner-b", 30_000)
      assert.isTrue((yield* store.renew(next)).cancelRequested)
      assert.isTrue((yield* store.save(next, checkpoint("wf", { status: "cancelled" }))).cancelRequested)
      // Released, the request is spent.
      yield* store.release(next)
      const after = yield* store.acquire(id("wf"), "runner-c", 30_000)
      assert.isFalse((yield* store.renew(after)).cancelRequested)
    }),
    { live: true }
  ),
  Conformance.test(
    "a save with release writes the checkpoint and ends the lease in the same write",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const lease = yield* store.acquire(id("wf"), "runner-a", 30_000)
      yield* store.save(lease, checkpoint("wf"))
      assert.isTrue(yield* store.requestCancel(id("wf")))
      const done = checkpoint("wf", { status: "completed", completedAt: 9, completedSteps: ["a", "b"] })
      // The lease state reported is the one before the release.
      assert.isTrue((yield* store.save(lease, done, { release: true })).cancelRequested)
      assert.deepStrictEqual(yield* store.load(id("wf")), Option.some({ ...done, epoch: lease.epoch }))
      // Released: nobody holds it, a released lease is never renewed, and the
      // pending cancellation was cleared with it.
      assert.isFalse(yield* store.requestCancel(id("wf")))
      assert.strictEqual((yield* Effect.flip(store.renew(lease)))._tag, "LeaseLost")
      const next = yield* store.acquire(id("wf"), "runner-b", 30_000)
      assert.strictEqual(next.epoch, lease.epoch + 1)
      assert.isFalse((yield* store.renew(next)).cancelRequested)
    })
  ),
  Conformance.test(
    "a refused save with release writes nothing and leaves the newer holder's lease alone",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const old = yield* store.acquire(id("wf"), "runner-a", 30_000)
      yield* store.save(old, checkpoint("wf", { completedSteps: ["a"] }))
      yield* store.release(old)
      const fresh = yield* store.acquire(id("wf"), "runner-b", 30_000)
      const refused = yield* Effect.flip(
        store.save(old, checkpoint("wf", { status: "completed", completedSteps: ["a", "b"] }), { release: true })
      )
      assert.strictEqual(refused._tag, "LeaseLost")
      assert.deepStrictEqual(Option.getOrThrow(yield* store.load(id("wf"))).completedSteps, ["a"])
      assert.strictEqual((yield* Effect.flip(store.acquire(id("wf"), "runner-c", 30_000)))._tag, "WorkflowBusy")
      assert.isFalse((yield* store.renew(fresh)).cancelRequested)
    })
  ),
  Conformance.test(
    "acquireAndCreate saves the first checkpoint with the grant, and grants alone when one exists",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const initial = checkpoint("wf", { completedSteps: [], attempts: {}, epoch: 0 })
      const first = yield* store.acquireAndCreate(id("wf"), "runner-a", 30_000, initial)
      assert.isTrue(first.created)
      assert.isFalse(first.cancelRequested)
      assert.strictEqual(first.lease.epoch, 1)
      assert.deepStrictEqual(yield* store.load(id("wf")), Option.some({ ...initial, epoch: 1 }))
      // Held: busy, and nothing written.
      const other = checkpoint("wf", { name: "other", completedSteps: [], attempts: {} })
      const busy = yield* Effect.flip(store.acquireAndCreate(id("wf"), "runner-b", 30_000, other))
      assert.strictEqual(busy._tag, "WorkflowBusy")
      // The lease works as any other: saves under it are fenced by its epoch.
      yield* store.save(first.lease, checkpoint("wf", { completedSteps: ["a"] }))
      yield* store.release(first.lease)
      // A checkpoint exists: the grant alone, the checkpoint untouched.
      const second = yield* store.acquireAndCreate(id("wf"), "runner-b", 30_000, other)
      assert.isFalse(second.created)
      assert.strictEqual(second.lease.epoch, 2)
      const kept = Option.getOrThrow(yield* store.load(id("wf")))
      assert.strictEqual(kept.name, "demo")
      assert.deepStrictEqual(kept.completedSteps, ["a"])
      assert.strictEqual(kept.epoch, 1)
      assert.strictEqual((yield* Effect.flip(store.save(first.lease, initial)))._tag, "LeaseLost")
    })
  ),
  Conformance.test(
    "concurrent acquireAndCreate of one workflow: one grant, one first checkpoint",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const results = yield* Effect.all(
        Array.from({ length: 6 }, (_, i) =>
          Effect.either(
            store.acquireAndCreate(id("contended"), `runner-${i}`, 30_000, checkpoint("contended", { run: i }))
          )),
        { concurrency: "unbounded" }
      )
      const granted = results.flatMap((r) => (r._tag === "Right" ? [r.right] : []))
      assert.strictEqual(granted.length, 1)
      assert.isTrue(granted[0]!.created)
      for (const r of results) if (r._tag === "Left") assert.strictEqual(r.left._tag, "WorkflowBusy")
      const stored = Option.getOrThrow(yield* store.load(id("contended")))
      assert.strictEqual(stored.run, Number(granted[0]!.lease.holder.slice("runner-".length)))
    })
  ),
  Conformance.test(
    "acquireAndCreate after a holder that died: the pending cancellation is reported with the first checkpoint",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      yield* store.acquire(id("wf"), "dead-runner", 150)
      assert.isTrue(yield* store.requestCancel(id("wf")))
      yield* realPause(300)
      const grant = yield* store.acquireAndCreate(id("wf"), "runner-b", 30_000, checkpoint("wf"))
      assert.isTrue(grant.created)
      assert.isTrue(grant.cancelRequested)
      assert.strictEqual(grant.lease.epoch, 2)
    }),
    { live: true }
  ),
  Conformance.test(
    "a released lease is not renewed",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const lease = yield* store.acquire(id("wf"), "runner-a", 30_000)
      yield* store.renew(lease)
      yield* store.release(lease)
      assert.strictEqual((yield* Effect.flip(store.renew(lease)))._tag, "LeaseLost")
      // Still free: the refused renewal did not take it back.
      assert.strictEqual((yield* store.acquire(id("wf"), "runner-b", 30_000)).epoch, lease.epoch + 1)
    })
  ),
  Conformance.test(
    "list filters by status and name and pages by workflow id",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const ids = ["wf-05", "wf-01", "wf-03", "wf-02", "wf-04"]
      for (const [i, workflowId] of ids.entries()) {
        const lease = yield* store.acquire(id(workflowId), "runner", 30_000)
        yield* store.save(
          lease,
          checkpoint(workflowId, { status: i % 2 === 0 ? "running" : "failed", name: i < 3 ? "alpha" : "beta" })
        )
      }
      const first = yield* store.list({ limit: 2 })
      assert.deepStrictEqual(first.items.map((c) => c.workflowId), ["wf-01", "wf-02"])
      assert.strictEqual(first.cursor, "wf-02")
      const second = yield* store.list({ limit: 2, cursor: first.cursor! })
      assert.deepStrictEqual(second.items.map((c) => c.workflowId), ["wf-03", "wf-04"])
      const last = yield* store.list({ limit: 2, cursor: second.cursor! })
      assert.deepStrictEqual(last.items.map((c) => c.workflowId), ["wf-05"])
      assert.isUndefined(last.cursor)
      assert.deepStrictEqual((yield* store.list({ status: "running" })).items.map((c) => c.workflowId), [
        "wf-03",
        "wf-04",
        "wf-05"
      ])
      assert.deepStrictEqual(
        (yield* store.list({ status: "running", name: "alpha" })).items.map((c) => c.workflowId),
        ["wf-03", "wf-05"]
      )
    })
  ),
  Conformance.test(
    "prune deletes old checkpoints of the given statuses, never held or newer ones",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const put = (workflowId: string, fields: Partial<Checkpoint>, release: boolean) =>
        Effect.gen(function*() {
          const lease = yield* store.acquire(id(workflowId), "runner", 30_000)
          yield* store.save(lease, checkpoint(workflowId, fields))
          if (release) yield* store.release(lease)
        })
      yield* put("old-done", { status: "completed", updatedAt: 100 }, true)
      yield* put("new-done", { status: "completed", updatedAt: 5_000 }, true)
      yield* put("old-failed", { status: "failed", updatedAt: 100 }, true)
      yield* put("old-held", { status: "completed", updatedAt: 100 }, false)
      assert.strictEqual(yield* store.prune({ statuses: ["completed"], updatedBefore: 1_000 }), 1)
      const left = (yield* store.list()).items.map((c) => c.workflowId)
      assert.deepStrictEqual(left, ["new-done", "old-failed", "old-held"])
      assert.strictEqual(yield* store.prune({ statuses: [], updatedBefore: 1_000_000 }), 0)
    })
  )
]

Conformance.conformance("CheckpointStore", stores, suite)
