/**
 * The published conformance suite of the task queue: the cases every
 * `TaskQueue` layer passes, as data, to run under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/supervisor/Testing"
 *
 * Conformance.conformance("my TaskQueue", { extra: { mine: myTaskQueueLayer } }, Testing.suite)
 * ```
 *
 * Every case gets a fresh build of the layer, which must start empty.
 * Needs the optional peer dependencies `@agentos/testkit`, `@effect/vitest`
 * and `vitest`. `index.ts` does not re-export this module.
 *
 * @since 0.1.0
 */
import * as Ids from "@agentos/core/Ids"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Task from "./Task.js"
import * as TaskQueue from "./TaskQueue.js"

let counter = 0

/**
 * A task record for the cases: type "t", priority 0, no group, unless given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const record = (
  fields: Partial<Omit<Task.TaskRecord, "id">> & { readonly id: string }
): Task.TaskRecord => ({
  type: "t",
  payload: { n: ++counter },
  priority: 0,
  submittedAt: 1_700_000_000_000,
  ...fields,
  id: Ids.TaskId.make(fields.id)
})

const takeIds = (type: string, limits: TaskQueue.GroupLimits = {}, max = 100) =>
  Effect.gen(function*() {
    const queue = yield* TaskQueue.TaskQueue
    const ids: Array<string> = []
    for (let i = 0; i < max; i++) {
      const taken = yield* queue.take(type, limits)
      if (Option.isNone(taken)) break
      ids.push(taken.value.id)
    }
    return ids
  })

const offerAll = (records: ReadonlyArray<Task.TaskRecord>, maxQueued = 1_000) =>
  Effect.flatMap(TaskQueue.TaskQueue, (queue) => Effect.forEach(records, (task) => queue.offer(task, { maxQueued })))

/**
 * The cases every `TaskQueue` layer passes.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite: Conformance.Suite<TaskQueue.TaskQueue> = [
  Conformance.test(
    "take returns the lowest priority number first, then the oldest",
    Effect.gen(function*() {
      yield* offerAll([
        record({ id: "a", priority: 2 }),
        record({ id: "b", priority: 0 }),
        record({ id: "c", priority: 1 }),
        record({ id: "d", priority: 0 }),
        record({ id: "e", priority: -1 })
      ])
      assert.deepStrictEqual(yield* takeIds("t"), ["e", "b", "d", "c", "a"])
    })
  ),
  Conformance.test(
    "a taken task comes back as it was offered (plain, storable values)",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      const task = record({
        id: "full",
        payload: { query: "effect", depth: [1, 2] },
        priority: 3,
        agentId: Ids.AgentId.make("alice"),
        estimatedTokens: 500,
        groupKey: "tenant-1",
        idempotencyKey: "k-1",
        timeoutMillis: 5_000,
        retry: { maxAttempts: 3, backoffMillis: 250 },
        grantId: "[\"g-1\"]",
        trace: { traceId: "trace", spanId: "span" }
      })
      yield* queue.offer(task, { maxQueued: 10 })
      const taken = yield* queue.take("t", {})
      assert.deepStrictEqual(Option.getOrThrow(taken), task)
    })
  ),
  Conformance.test(
    "offer refuses a task past maxQueued (force passes it); depth counts queued tasks of a type",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      assert.deepStrictEqual(yield* queue.offer(record({ id: "a" }), { maxQueued: 2 }), { _tag: "Queued", depth: 1 })
      assert.deepStrictEqual(yield* queue.offer(record({ id: "b" }), { maxQueued: 2 }), { _tag: "Queued", depth: 2 })
      assert.deepStrictEqual(yield* queue.offer(record({ id: "c" }), { maxQueued: 2 }), { _tag: "Full", depth: 2 })
      assert.deepStrictEqual(yield* queue.offer(record({ id: "d" }), { maxQueued: 2, force: true }), {
        _tag: "Queued",
        depth: 3
      })
      assert.deepStrictEqual(yield* queue.offer(record({ id: "x", type: "other" }), { maxQueued: 2 }), {
        _tag: "Queued",
        depth: 1
      })
      assert.strictEqual(yield* queue.depth("t"), 3)
      yield* queue.take("t", {})
      assert.strictEqual(yield* queue.depth("t"), 2)
      assert.strictEqual(yield* queue.depth("unknown"), 0)
      assert.deepStrictEqual((yield* queue.stats).byType, { t: 2, other: 1 })
    })
  ),
  Conformance.test(
    "take returns only tasks of its type",
    Effect.gen(function*() {
      yield* offerAll([record({ id: "a", type: "x" }), record({ id: "b", type: "y", priority: -5 })])
      assert.deepStrictEqual(yield* takeIds("x"), ["a"])
      assert.deepStrictEqual(yield* takeIds("z"), [])
    })
  ),
  Conformance.test(
    "a group at its limit is skipped, not blocking other groups; finish frees its slot",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([
        record({ id: "a1", groupKey: "a" }),
        record({ id: "a2", groupKey: "a" }),
        record({ id: "b1", groupKey: "b" }),
        record({ id: "free" }),
        record({ id: "a3", groupKey: "a" })
      ])
      const limits = { default: 1 }
      assert.deepStrictEqual(yield* takeIds("t", limits), ["a1", "b1", "free"])
      assert.deepStrictEqual((yield* queue.stats).byGroup, {
        a: { queued: 2, running: 1 },
        b: { queued: 0, running: 1 }
      })
      yield* queue.finish("b1")
      assert.deepStrictEqual(yield* takeIds("t", limits), [])
      yield* queue.finish("a1")
      assert.deepStrictEqual(yield* takeIds("t", limits), ["a2"])
      yield* queue.finish("a2")
      assert.deepStrictEqual(yield* takeIds("t", limits), ["a3"])
      yield* queue.finish("a3")
      yield* queue.finish("free")
      assert.deepStrictEqual((yield* queue.stats).byGroup, {})
    })
  ),
  Conformance.test(
    "a group's own limit overrides the default; the group's order is kept across a wait",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([
        record({ id: "w1", groupKey: "wide", priority: 1 }),
        record({ id: "w2", groupKey: "wide", priority: 1 }),
        record({ id: "w3", groupKey: "wide", priority: 0 }),
        record({ id: "n1", groupKey: "narrow" }),
        record({ id: "n2", groupKey: "narrow" })
      ])
      const limits = { default: 1, byGroup: { wide: 2 } }
      assert.deepStrictEqual(yield* takeIds("t", limits), ["w3", "n1", "w1"])
      yield* queue.offer(record({ id: "w0", groupKey: "wide", priority: -1 }), { maxQueued: 100 })
      yield* queue.finish("w1")
      assert.deepStrictEqual(yield* takeIds("t", limits), ["w0"])
      yield* queue.finish("w3")
      yield* queue.finish("n1")
      assert.deepStrictEqual(yield* takeIds("t", limits), ["n2", "w2"])
    })
  ),
  Conformance.test(
    "a group's limit counts its running tasks of every type",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "x1", type: "x", groupKey: "g" }), record({ id: "y1", type: "y", groupKey: "g" })])
      assert.deepStrictEqual(yield* takeIds("x", { default: 1 }), ["x1"])
      assert.deepStrictEqual(yield* takeIds("y", { default: 1 }), [])
      yield* queue.finish("x1")
      assert.deepStrictEqual(yield* takeIds("y", { default: 1 }), ["y1"])
    })
  ),
  Conformance.test(
    "remove drops a queued task; a running, finished or unknown one is not removed",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([
        record({ id: "a", groupKey: "g" }),
        record({ id: "b", groupKey: "g" }),
        record({ id: "c" })
      ])
      assert.isTrue(yield* queue.remove("b"))
      assert.isFalse(yield* queue.remove("b"))
      assert.strictEqual(yield* queue.depth("t"), 2)
      assert.deepStrictEqual(yield* takeIds("t"), ["a", "c"])
      assert.isFalse(yield* queue.remove("a"))
      assert.isFalse(yield* queue.remove("nope"))
      yield* queue.finish("a")
      yield* queue.finish("a")
      yield* queue.finish("nope")
      assert.strictEqual(yield* queue.depth("t"), 0)
      assert.deepStrictEqual((yield* queue.stats).byGroup, {})
    })
  )
]
