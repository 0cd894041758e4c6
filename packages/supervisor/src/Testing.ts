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
import * as TestServices from "effect/TestServices"
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

const claimOptions = (leaseMillis = 60_000, limits: TaskQueue.GroupLimits = {}): TaskQueue.ClaimOptions => ({
  limits,
  holder: "runner-a",
  leaseMillis
})

const claimOne = (type = "t", options: TaskQueue.ClaimOptions = claimOptions()) =>
  Effect.flatMap(TaskQueue.TaskQueue, (queue) => Effect.map(queue.claim(type, options), Option.getOrThrow))

const statusOf = (id: string) =>
  Effect.flatMap(TaskQueue.TaskQueue, (queue) => Effect.map(queue.status(id), Option.getOrThrow))

/** A handler's usage so far, carried in the record by `retry` and `release`. */
const usageSoFar = {
  inputTokens: 120,
  outputTokens: 30,
  cachedInputTokens: 20,
  reasoningTokens: 0,
  source: "reported"
} as const

/** Real time, whatever clock the case runs under (leases on SQL follow the database's clock). */
const sleepLive = (millis: number) => TestServices.provideLive(Effect.sleep(millis))

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
    "an idempotency key held by a kept task answers Duplicate with its id, until that task is purged",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      const keyed = (id: string, idempotencyKey: string, type = "t") => record({ id, type, idempotencyKey })
      assert.deepStrictEqual(yield* queue.offer(keyed("a", "k"), { maxQueued: 1 }), { _tag: "Queued", depth: 1 })
      // Checked before the bound, and across types.
      assert.deepStrictEqual(yield* queue.offer(keyed("b", "k"), { maxQueued: 1 }), { _tag: "Duplicate", id: "a" })
      assert.deepStrictEqual(yield* queue.offer(keyed("c", "k", "u"), { maxQueued: 1 }), {
        _tag: "Duplicate",
        id: "a"
      })
      assert.strictEqual(yield* queue.depth("t"), 1)
      assert.isTrue(Option.isNone(yield* queue.status("b")))
      assert.deepStrictEqual(yield* queue.keyHolder("k"), Option.some("a"))
      assert.deepStrictEqual(yield* queue.keyHolder("other"), Option.none())
      // Running, then ended and kept: still held.
      const a = yield* claimOne("t")
      assert.deepStrictEqual(yield* queue.offer(keyed("d", "k"), { maxQueued: 10 }), { _tag: "Duplicate", id: "a" })
      assert.isTrue(yield* queue.end("a", a.token, { status: "completed", result: 1 }))
      assert.deepStrictEqual(yield* queue.offer(keyed("e", "k"), { maxQueued: 10 }), { _tag: "Duplicate", id: "a" })
      // Purged: the key is free.
      yield* queue.purge({ retentionMillis: 0, maxCount: 0 })
      assert.deepStrictEqual(yield* queue.keyHolder("k"), Option.none())
      assert.deepStrictEqual(yield* queue.offer(keyed("f", "k"), { maxQueued: 10 }), { _tag: "Queued", depth: 1 })
      // A removed task, and one taken and finished, hold their key no more.
      assert.isTrue(yield* queue.remove("f"))
      assert.deepStrictEqual(yield* queue.offer(keyed("g", "k"), { maxQueued: 10 }), { _tag: "Queued", depth: 1 })
      assert.deepStrictEqual(Option.map(yield* queue.take("t", {}), (task) => task.id), Option.some("g"))
      yield* queue.finish("g")
      assert.deepStrictEqual(yield* queue.offer(keyed("h", "k"), { maxQueued: 10 }), { _tag: "Queued", depth: 1 })
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
  ),
  Conformance.test(
    "claim takes in take's order under a lease with a fencing token; end records the outcome once",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "a", priority: 1 }), record({ id: "b", priority: 0 })])
      const first = yield* claimOne()
      assert.strictEqual(first.record.id, "b")
      assert.deepStrictEqual(
        { deliveries: first.deliveries, lost: first.lostDeliveries, failures: first.failures, poison: first.poisoned },
        { deliveries: 1, lost: 0, failures: 0, poison: false }
      )
      assert.strictEqual((yield* statusOf("b")).status, "running")
      assert.strictEqual(yield* queue.depth("t"), 1)
      assert.isFalse(yield* queue.end("b", first.token + 1, { status: "completed", result: 0 }))
      assert.isTrue(yield* queue.end("b", first.token, { status: "completed", result: { answer: [42] } }))
      assert.isFalse(yield* queue.end("b", first.token, { status: "failed", error: "late" }))
      const done = yield* statusOf("b")
      assert.strictEqual(done.status, "completed")
      assert.deepStrictEqual(done.outcome, { status: "completed", result: { answer: [42] } })
      assert.strictEqual(typeof done.finishedAt, "number")
      assert.deepStrictEqual(yield* queue.renew("b", first.token, 1_000), { _tag: "Lost" })
      assert.isTrue(Option.isNone(yield* queue.status("nope")))
      assert.strictEqual((yield* statusOf("a")).status, "queued")
    })
  ),
  Conformance.test(
    "endThenClaim records the end (fenced) and claims the next task",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "a" }), record({ id: "b", priority: 1 }), record({ id: "c", type: "other" })])
      const a = yield* claimOne()
      const first = yield* queue.endThenClaim(
        { id: "a", token: a.token, outcome: { status: "completed", result: "A" } },
        "t",
        claimOptions()
      )
      assert.isTrue(first.ended)
      const b = Option.getOrThrow(first.next)
      assert.deepStrictEqual([b.record.id, b.deliveries], ["b", 1])
      assert.deepStrictEqual((yield* statusOf("a")).outcome, { status: "completed", result: "A" })
      const stale = yield* queue.endThenClaim(
        { id: "b", token: b.token + 1, outcome: { status: "completed", result: "late" } },
        "t",
        claimOptions()
      )
      assert.deepStrictEqual([stale.ended, Option.isNone(stale.next)], [false, true])
      assert.strictEqual((yield* statusOf("b")).status, "running")
      const last = yield* queue.endThenClaim(
        { id: "b", token: b.token, outcome: { status: "failed", error: "boom" } },
        "t",
        claimOptions()
      )
      assert.deepStrictEqual([last.ended, Option.isNone(last.next)], [true, true])
      assert.deepStrictEqual([(yield* statusOf("b")).status, (yield* statusOf("b")).failures], ["failed", 1])
      assert.strictEqual((yield* statusOf("c")).status, "queued")
    })
  ),
  Conformance.test(
    "renew extends only the current token's lease",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "a" })])
      const claim = yield* claimOne()
      assert.deepStrictEqual(yield* queue.renew("a", claim.token, 60_000), { _tag: "Renewed", cancelRequested: false })
      assert.deepStrictEqual(yield* queue.renew("a", claim.token - 1, 60_000), { _tag: "Lost" })
      assert.deepStrictEqual(yield* queue.renew("nope", 1, 60_000), { _tag: "Lost" })
    })
  ),
  Conformance.test(
    "retry counts a handler failure, frees the group slot and waits its delay as retrying",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "a", groupKey: "g" }), record({ id: "b", groupKey: "g" })])
      const limits = { default: 1 }
      const a = yield* claimOne("t", claimOptions(60_000, limits))
      assert.isTrue(Option.isNone(yield* queue.claim("t", claimOptions(60_000, limits))))
      assert.deepStrictEqual(yield* queue.retry("a", a.token + 1, 0), { _tag: "Lost" })
      assert.deepStrictEqual(yield* queue.retry("a", a.token, 60_000), { _tag: "Retrying" })
      assert.deepStrictEqual(yield* queue.retry("a", a.token, 0), { _tag: "Lost" })
      const waiting = yield* statusOf("a")
      assert.deepStrictEqual([waiting.status, waiting.failures, waiting.lostDeliveries], ["retrying", 1, 0])
      assert.strictEqual(yield* queue.depth("t"), 1)
      assert.deepStrictEqual((yield* queue.reclaim({ maxDeliveries: 3 })).due, 0)
      const b = yield* claimOne("t", claimOptions(60_000, limits))
      assert.strictEqual(b.record.id, "b")
      // The usage its handler reported so far goes with it, in its record.
      assert.deepStrictEqual(yield* queue.retry("b", b.token, 0, usageSoFar), { _tag: "Retrying" })
      assert.deepStrictEqual(yield* queue.reclaim({ maxDeliveries: 3 }), {
        requeued: 0,
        poisoned: 0,
        due: 1,
        cancelledTasks: []
      })
      const again = yield* claimOne("t", claimOptions(60_000, limits))
      assert.deepStrictEqual(
        [again.record.id, again.deliveries, again.failures, again.lostDeliveries, again.record.usage],
        ["b", 2, 1, 0, usageSoFar]
      )
      assert.notStrictEqual(again.token, b.token)
    })
  ),
  Conformance.test(
    "an expired lease is reclaimed as a lost delivery; the old holder is fenced off",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "short" }), record({ id: "long" })])
      const short = yield* claimOne("t", claimOptions(150))
      const long = yield* claimOne("t", claimOptions(60_000))
      yield* sleepLive(400)
      assert.deepStrictEqual(yield* queue.reclaim({ maxDeliveries: 5 }), {
        requeued: 1,
        poisoned: 0,
        due: 0,
        cancelledTasks: []
      })
      assert.strictEqual((yield* statusOf("short")).status, "queued")
      assert.strictEqual((yield* statusOf("long")).status, "running")
      const again = yield* claimOne("t", claimOptions(60_000))
      assert.deepStrictEqual([again.record.id, again.deliveries, again.lostDeliveries, again.failures], [
        "short",
        2,
        1,
        0
      ])
      assert.deepStrictEqual(yield* queue.renew("short", short.token, 60_000), { _tag: "Lost" })
      assert.isFalse(yield* queue.end("short", short.token, { status: "completed", result: 1 }))
      assert.deepStrictEqual(yield* queue.retry("short", short.token, 0), { _tag: "Lost" })
      assert.isTrue(yield* queue.end("short", again.token, { status: "completed", result: 2 }))
      assert.isTrue(yield* queue.end("long", long.token, { status: "completed", result: 3 }))
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "a task that lost maxDeliveries deliveries is a poison task; its dead letter counts no failure",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "p" })])
      for (let i = 1; i <= 2; i++) {
        const claim = yield* claimOne("t", claimOptions(100))
        assert.isFalse(claim.poisoned)
        assert.strictEqual(claim.lostDeliveries, i - 1)
        yield* sleepLive(300)
        const reclaimed = yield* queue.reclaim({ maxDeliveries: 2 })
        assert.deepStrictEqual([reclaimed.requeued, reclaimed.poisoned], i === 1 ? [1, 0] : [0, 1])
      }
      const poison = yield* claimOne("t", claimOptions(60_000))
      assert.deepStrictEqual([poison.poisoned, poison.deliveries, poison.lostDeliveries, poison.failures], [
        true,
        3,
        2,
        0
      ])
      assert.isTrue(yield* queue.end("p", poison.token, { status: "dead-lettered", error: { letterId: "l-1" } }))
      const done = yield* statusOf("p")
      assert.deepStrictEqual([done.status, done.failures, done.lostDeliveries], ["dead-lettered", 0, 2])
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "a failed end counts a handler failure",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "f" })])
      const claim = yield* claimOne()
      assert.isTrue(yield* queue.end("f", claim.token, { status: "failed", error: { message: "boom" } }))
      const done = yield* statusOf("f")
      assert.deepStrictEqual([done.status, done.failures, done.outcome], ["failed", 1, {
        status: "failed",
        error: { message: "boom" }
      }])
    })
  ),
  Conformance.test(
    "cancel ends a queued or retrying task, marks a running one, leaves an ended one",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "r" }), record({ id: "q" }), record({ id: "w" })])
      const running = yield* claimOne()
      const waiting = yield* claimOne()
      assert.strictEqual(waiting.record.id, "q")
      yield* queue.retry("q", waiting.token, 60_000)
      const w = yield* queue.cancel("w")
      assert.deepStrictEqual([w._tag, w._tag === "Cancelled" ? w.record.id : undefined], ["Cancelled", "w"])
      const q = yield* queue.cancel("q")
      assert.deepStrictEqual([q._tag, q._tag === "Cancelled" ? q.record.id : undefined], ["Cancelled", "q"])
      assert.deepStrictEqual(yield* queue.cancel("r"), { _tag: "Requested" })
      assert.deepStrictEqual(yield* queue.cancel("nope"), { _tag: "NotFound" })
      assert.strictEqual(yield* queue.depth("t"), 0)
      const cancelled = yield* statusOf("w")
      assert.strictEqual(cancelled.status, "cancelled")
      assert.strictEqual(cancelled.outcome?.status, "cancelled")
      assert.deepStrictEqual([(yield* statusOf("q")).status, (yield* statusOf("q")).failures], ["cancelled", 1])
      assert.deepStrictEqual(yield* queue.cancel("w"), { _tag: "Ended", status: "cancelled" })
      assert.deepStrictEqual(yield* queue.renew("r", running.token, 60_000), {
        _tag: "Renewed",
        cancelRequested: true
      })
      assert.isTrue((yield* statusOf("r")).cancelRequested)
      assert.isTrue(yield* queue.end("r", running.token, { status: "cancelled", error: "by request" }))
      assert.deepStrictEqual(yield* queue.cancel("r"), { _tag: "Ended", status: "cancelled" })
      assert.isTrue(Option.isNone(yield* queue.claim("t", claimOptions())))
    })
  ),
  Conformance.test(
    "a cancel asked while an attempt ran ends the task at its retry, not after the retry's delay",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "c" })])
      const first = yield* claimOne("t")
      assert.deepStrictEqual(yield* queue.cancel("c"), { _tag: "Requested" })
      assert.deepStrictEqual(yield* queue.retry("c", first.token, 3_600_000), { _tag: "Cancelled" })
      const done = yield* statusOf("c")
      assert.deepStrictEqual([done.status, done.outcome?.status, done.failures], ["cancelled", "cancelled", 1])
      assert.deepStrictEqual(yield* queue.cancel("c"), { _tag: "Ended", status: "cancelled" })
      assert.isTrue(Option.isNone(yield* queue.claim("t", claimOptions())))
    })
  ),
  Conformance.test(
    "release hands a claimed task back: queued for any runner, no failure and no lost delivery counted",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "h", groupKey: "g" }), record({ id: "x" })])
      const limits = { default: 1 }
      const held = yield* claimOne("t", claimOptions(60_000, limits))
      assert.strictEqual(held.record.id, "h")
      assert.deepStrictEqual(yield* queue.release("h", held.token + 1, usageSoFar), { _tag: "Lost" })
      assert.strictEqual((yield* statusOf("h")).record.usage, undefined)
      assert.deepStrictEqual(yield* queue.release("h", held.token, usageSoFar), { _tag: "Released" })
      assert.deepStrictEqual(yield* queue.release("h", held.token), { _tag: "Lost" })
      assert.isFalse(yield* queue.end("h", held.token, { status: "completed", result: 0 }))
      const back = yield* statusOf("h")
      assert.deepStrictEqual(
        [back.status, back.failures, back.lostDeliveries, back.record.usage],
        ["queued", 0, 0, usageSoFar]
      )
      assert.deepStrictEqual((yield* queue.stats).byGroup, { g: { queued: 1, running: 0 } })
      // Behind the tasks queued before its hand-back, as a reclaimed task.
      assert.deepStrictEqual((yield* claimOne("t", claimOptions(60_000, limits))).record.id, "x")
      const again = yield* claimOne("t", claimOptions(60_000, limits))
      assert.deepStrictEqual(
        [again.record.id, again.deliveries, again.failures, again.lostDeliveries, again.poisoned],
        [
          "h",
          2,
          0,
          0,
          false
        ]
      )
      assert.deepStrictEqual(again.record.usage, usageSoFar)
      assert.notStrictEqual(again.token, held.token)
      // A cancel asked while it runs: its hand-back ends it as cancelled.
      assert.deepStrictEqual(yield* queue.cancel("h"), { _tag: "Requested" })
      assert.deepStrictEqual(yield* queue.release("h", again.token), { _tag: "Cancelled" })
      const done = yield* statusOf("h")
      assert.deepStrictEqual([done.status, done.failures], ["cancelled", 0])
    })
  ),
  Conformance.test(
    "clear drops what take left (queued and taken tasks), freeing their keys and group slots; returns their records",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([
        record({ id: "taken", groupKey: "g", idempotencyKey: "k-taken", grantId: "grant-taken" }),
        record({ id: "queued", groupKey: "g", idempotencyKey: "k-queued", grantId: "grant-queued" })
      ])
      assert.strictEqual((yield* takeIds("t", {}, 1))[0], "taken")
      const dropped = yield* queue.clear
      // The records, whole: their admission grants are released from them.
      assert.deepStrictEqual(dropped.map((task) => [task.id, task.grantId]).sort(), [
        ["queued", "grant-queued"],
        ["taken", "grant-taken"]
      ])
      assert.strictEqual(yield* queue.depth("t"), 0)
      assert.deepStrictEqual((yield* queue.stats).byGroup, {})
      assert.isTrue(Option.isNone(yield* queue.keyHolder("k-taken")))
      assert.isTrue(Option.isNone(yield* queue.keyHolder("k-queued")))
      yield* offerAll([record({ id: "new", groupKey: "g", idempotencyKey: "k-taken" })])
      assert.deepStrictEqual(yield* takeIds("t", { default: 1 }), ["new"])
    })
  ),
  Conformance.test(
    "a running task asked to cancel whose runner died ends cancelled at reclaim, its record returned",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      const task = record({ id: "c", grantId: "grant-c" })
      yield* offerAll([task])
      yield* claimOne("t", claimOptions(100))
      assert.deepStrictEqual(yield* queue.cancel("c"), { _tag: "Requested" })
      yield* sleepLive(300)
      assert.deepStrictEqual(yield* queue.reclaim({ maxDeliveries: 3 }), {
        requeued: 0,
        poisoned: 0,
        due: 0,
        cancelledTasks: [task]
      })
      assert.strictEqual((yield* statusOf("c")).status, "cancelled")
      assert.isTrue(Option.isNone(yield* queue.claim("t", claimOptions())))
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "claimed tasks count in their group's limit and stats until they end",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "a1", groupKey: "a" }), record({ id: "a2", groupKey: "a" })])
      const limits = { byGroup: { a: 1 } }
      const first = yield* claimOne("t", claimOptions(60_000, limits))
      assert.isTrue(Option.isNone(yield* queue.claim("t", claimOptions(60_000, limits))))
      assert.deepStrictEqual((yield* queue.stats).byGroup, { a: { queued: 1, running: 1 } })
      yield* queue.end(first.record.id, first.token, { status: "completed", result: null })
      const second = yield* claimOne("t", claimOptions(60_000, limits))
      assert.strictEqual(second.record.id, "a2")
      assert.deepStrictEqual(second.record, (yield* statusOf("a2")).record)
    })
  ),
  Conformance.test(
    "purge drops ended tasks past their retention, then the oldest beyond maxCount",
    Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      yield* offerAll([record({ id: "e1" }), record({ id: "e2" }), record({ id: "e3" }), record({ id: "live" })])
      for (const id of ["e1", "e2", "e3"]) {
        const claim = yield* claimOne()
        assert.strictEqual(claim.record.id, id)
        yield* queue.end(id, claim.token, { status: "completed", result: id })
      }
      assert.strictEqual(yield* queue.purge({ retentionMillis: 3_600_000, maxCount: 100 }), 0)
      assert.strictEqual(yield* queue.purge({ retentionMillis: 3_600_000, maxCount: 2 }), 1)
      assert.isTrue(Option.isNone(yield* queue.status("e1")))
      assert.strictEqual((yield* statusOf("e2")).status, "completed")
      assert.strictEqual(yield* queue.purge({ retentionMillis: 0, maxCount: 100 }), 2)
      assert.isTrue(Option.isNone(yield* queue.status("e3")))
      assert.strictEqual((yield* statusOf("live")).status, "queued")
    })
  )
]
