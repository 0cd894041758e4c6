// Every accepted task ends in a state someone can see, and every grant is
// settled through one path: a retry the queue cannot take ends the task; a
// poison task becomes a dead letter (a real, validated one) whatever its
// retry policy and fails its waiters with `TaskPoisoned`; a grant whose
// release fails is reported like any other settle failure; tasks an earlier
// run left in a SQL queue do not hold a group's slots and have their grants
// released; a `handBack` shutdown returns the tasks running here to the
// queue for another process, with the usage they reported.
import type * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as TokenUsage from "@agentos/core/TokenUsage"
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Metrics from "../src/internal/metrics.js"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"
import { record } from "../src/Testing.js"
import { echo, make, recordingPolicy, settle } from "./fixtures.js"

const work = Task.taskType("work", { payload: Schema.Struct({ n: Schema.Number }), result: Schema.Number })

const sharedOptions = { lease: "600 millis", pollInterval: "200 millis", maxDeliveries: 2 } as const

const queueOf = (layer: Layer.Layer<TaskQueue.TaskQueue, unknown>) =>
  Effect.map(Layer.build(layer), (context) => ({
    queue: Context.get(context, TaskQueue.TaskQueue),
    layer: Layer.succeedContext(context)
  }))

const build = (options: Supervisor.Options, layer: Layer.Layer<TaskQueue.TaskQueue>) =>
  Effect.map(
    Layer.build(Supervisor.layer(options).pipe(Layer.provide(layer))),
    (context) => Context.get(context, Supervisor.Supervisor)
  )

const sqlQueues = Backends.sqlBackends().map((backend) => ({
  name: backend.name,
  layer: TaskQueue.layerSql().pipe(Layer.provide(backend.layer))
}))

const backends: ReadonlyArray<{ readonly name: string; readonly layer: Layer.Layer<TaskQueue.TaskQueue, unknown> }> = [
  { name: "memory", layer: TaskQueue.layerMemory() },
  ...sqlQueues
]

/** Polls `condition` until it holds (bounded: 10 s of real time in all). */
const waitUntil = <E>(condition: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2_000; i++) {
      if (yield* condition) return
      yield* Effect.sleep("5 millis")
    }
    return yield* Effect.die(new Error("the condition never held"))
  })

/** Waits until `fiber` is suspended (it reached its first wait: a stream reader, subscribed). */
const suspended = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000; i++) {
      if ((yield* Fiber.status(fiber))._tag === "Suspended") return
      yield* Effect.yieldNow()
    }
    return yield* Effect.die(new Error("the fiber never waited"))
  })

/** A dead-letter port that validates letters as a real store does (core's schema). */
const validatingDeadLetters = () => {
  const letters: Array<DeadLetters.DeadLetterInput> = []
  const layer = Layer.succeed(DeadLetters.DeadLetters, {
    send: (letter) =>
      Schema.decodeUnknown(DeadLetters.DeadLetterInput)(letter).pipe(
        Effect.mapError((error) => new DeadLetters.DeadLetterRejected({ reason: "invalid", message: error.message })),
        Effect.map((valid) => {
          letters.push(valid)
          return { letterId: `letter-${letters.length}` as never, duplicate: false }
        })
      )
  })
  return { letters, layer }
}

/**
 * Poisons task `id` as runners that die would: `maxDeliveries` claims whose
 * leases expire, each reclaimed as soon as its expiry (by the queue's clock)
 * has passed.
 */
const poison = (queue: TaskQueue.TaskQueueService, id: string) =>
  Effect.gen(function*() {
    yield* queue.offer(record({ id, type: "work", payload: { n: 1 } }), { maxQueued: 10 })
    for (let i = 0; i < sharedOptions.maxDeliveries; i++) {
      yield* queue.claim("work", { limits: {}, holder: "dead", leaseMillis: 30 })
      yield* waitUntil(
        Effect.map(
          queue.reclaim({ maxDeliveries: sharedOptions.maxDeliveries }),
          (reclaimed) => reclaimed.requeued + reclaimed.poisoned === 1
        )
      )
    }
  })

describe("a poison task", () => {
  for (const backend of backends) {
    it.live(
      `becomes a valid dead letter though its type retries nothing; waiters see TaskPoisoned — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          const dead = validatingDeadLetters()
          yield* poison(queue, "poisoned")
          let calls = 0
          const sup = yield* build({
            types: [work],
            shared: sharedOptions,
            workers: [Task.worker(work, { name: "w", maxConcurrent: 1, handler: () => Effect.sync(() => ++calls) })]
          }, Layer.merge(layer, dead.layer))
          yield* waitUntil(
            Effect.map(queue.status("poisoned"), (s) => Option.isSome(s) && Task.isTerminal(s.value.status))
          )
          assert.strictEqual(yield* sup.status("poisoned"), "dead-lettered")
          const error = yield* Effect.flip(sup.result("poisoned"))
          assert.strictEqual(error._tag, "TaskPoisoned")
          assert.deepStrictEqual(
            error._tag === "TaskPoisoned"
              ? [error.letterId, error.deliveries, error.lostDeliveries, error.failures, error.deadLetterError]
              : [],
            ["letter-1", 3, 2, 0, undefined]
          )
          assert.strictEqual(calls, 0)
          assert.strictEqual(dead.letters.length, 1)
          const letter = dead.letters[0]!
          assert.deepStrictEqual([letter.taskId, letter.attempts, letter.error.tag], ["poisoned", 2, "PoisonTask"])
          assert.deepStrictEqual(
            [letter.context?.cause, letter.context?.deliveries, letter.context?.lostDeliveries],
            ["lost-deliveries", 3, 2]
          )
        }).pipe(Effect.scoped),
      30_000
    )
  }

  it.live("without a dead letter queue it ends failed, and its waiters still see TaskPoisoned", () =>
    Effect.gen(function*() {
      const { layer, queue } = yield* queueOf(TaskQueue.layerMemory())
      yield* poison(queue, "poisoned")
      const sup = yield* build({
        types: [work],
        shared: sharedOptions,
        workers: [Task.worker(work, { name: "w", maxConcurrent: 1, handler: () => Effect.succeed(1) })]
      }, layer)
      const handle = yield* sup.handle("poisoned")
      const error = yield* Effect.flip(handle.await)
      assert.deepStrictEqual([error._tag, yield* sup.status("poisoned")], ["TaskPoisoned", "failed"])
    }).pipe(Effect.scoped))
})

describe("a retry the queue will not take back", () => {
  it.effect("ends the task failed (RequeueFailed) instead of leaving it queued nowhere", () =>
    Effect.gen(function*() {
      // A queue that answers the retry's re-offer with Duplicate (its key held elsewhere).
      const queue = Layer.effect(
        TaskQueue.TaskQueue,
        Effect.map(
          Effect.provide(TaskQueue.TaskQueue, TaskQueue.layerMemory()),
          (inner): TaskQueue.TaskQueueService => ({
            ...inner,
            offer: (task, options) =>
              options.force === true
                ? Effect.succeed({ _tag: "Duplicate", id: "someone-else" })
                : inner.offer(task, options)
          })
        )
      )
      let calls = 0
      const sup = yield* make(
        {
          types: [echo],
          workers: [
            Task.worker(echo, {
              name: "w",
              maxConcurrent: 1,
              handler: () => Effect.suspend(() => Effect.fail(++calls))
            })
          ]
        },
        Layer.empty,
        queue
      )
      const handle = yield* sup.submit({ type: echo, payload: { n: 1 }, retry: { maxAttempts: 3, backoffMillis: 10 } })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      const exit = yield* handle.poll
      assert.isTrue(Option.isSome(exit), "the task ended")
      const error = yield* Effect.flip(Option.getOrThrow(exit))
      assert.strictEqual(error._tag, "TaskFailed")
      assert.strictEqual(error._tag === "TaskFailed" ? error.error.tag : undefined, "RequeueFailed")
      assert.strictEqual(yield* sup.status(handle.id), "failed")
      assert.strictEqual(calls, 1)
    }).pipe(Effect.scoped))
})

describe("a grant whose release fails", () => {
  it.effect("is reported as every settle failure is (counted, logged, published)", () =>
    Effect.gen(function*() {
      const { layer } = yield* queueOf(TaskQueue.layerMemory())
      const recording = recordingPolicy()
      const failingRelease = { ...recording.policy, release: () => Effect.die("the budget store is down") }
      const sup = yield* build({ types: [work], admission: [failingRelease], shared: sharedOptions }, layer)
      const published = yield* Effect.forkScoped(
        Stream.runHead(Stream.filter(sup.events, (event) => event._tag === "GrantSettleFailed"))
      )
      yield* suspended(published)
      const before = (yield* Metric.value(Metrics.grantSettleFailures)).count
      // No worker takes it: it stays queued; a cancel by id ends it in the queue and releases its grant.
      const handle = yield* sup.submit({ type: work, payload: { n: 1 } })
      yield* sup.cancel(handle.id)
      assert.strictEqual(yield* sup.status(handle.id), "cancelled")
      assert.strictEqual((yield* Metric.value(Metrics.grantSettleFailures)).count - before, 1)
      const event = Option.getOrThrow(yield* Fiber.join(published))
      assert.strictEqual(event._tag === "GrantSettleFailed" ? event.taskId : undefined, handle.id)
    }).pipe(Effect.scoped))
})

describe("tasks an earlier run left in a SQL queue (no shared option)", () => {
  for (const backend of sqlQueues) {
    it.live(
      `are dropped when the supervisor is built: they hold no group slot, their grants are released — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          // An earlier run was killed with one task of group g taken (running) and one queued.
          yield* queue.offer(
            record({ id: "old-running", type: "work", payload: { n: 0 }, groupKey: "g", grantId: "old-1" }),
            { maxQueued: 10 }
          )
          assert.isTrue(Option.isSome(yield* queue.take("work", {})))
          yield* queue.offer(
            record({ id: "old-queued", type: "work", payload: { n: 0 }, idempotencyKey: "k", grantId: "old-2" }),
            { maxQueued: 10 }
          )
          const recording = recordingPolicy()
          const sup = yield* build({
            types: [work],
            admission: [recording.policy],
            groupLimits: { default: 1 },
            workers: [Task.worker(work, { name: "w", maxConcurrent: 2, handler: ({ n }) => Effect.succeed(n) })]
          }, layer)
          assert.deepStrictEqual((yield* sup.snapshot).groups, {})
          const handle = yield* sup.submit({ type: work, payload: { n: 7 }, groupKey: "g", idempotencyKey: "k" })
          assert.strictEqual(yield* Effect.timeout(handle.await, "5 seconds"), 7)
          assert.isTrue(Option.isNone(yield* queue.status("old-running")))
          assert.isTrue(Option.isNone(yield* queue.status("old-queued")))
          // Released once each when the supervisor was built (nothing else would settle them).
          assert.deepStrictEqual(recording.events.slice(0, 2).sort(), ["old-1:release", "old-2:release"])
          assert.deepStrictEqual([recording.settled.get("old-1"), recording.settled.get("old-2")], [1, 1])
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("a task retried on a shared queue", () => {
  for (const backend of backends) {
    it.live(
      `commits its grant with the usage of every attempt, the failed ones too — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer } = yield* queueOf(backend.layer)
          const recording = recordingPolicy()
          const sup = yield* build({
            types: [work],
            admission: [recording.policy],
            shared: sharedOptions,
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 1,
                // Each attempt spends tokens; the first fails after spending them.
                handler: ({ n }, context) =>
                  Effect.zipRight(
                    context.reportUsage(TokenUsage.make({ inputTokens: 10 * context.attempt, outputTokens: 1 })),
                    context.attempt === 1 ? Effect.fail("first attempt fails") : Effect.succeed(n)
                  )
              })
            ]
          }, layer)
          // A retried task leaves the process that ran it: the next attempt runs from a new claim.
          const handle = yield* sup.submit({
            type: work,
            payload: { n: 3 },
            retry: { maxAttempts: 2, backoffMillis: 0 }
          })
          assert.strictEqual(yield* sup.result(handle.id), 3)
          yield* waitUntil(Effect.sync(() => recording.settled.size === 1))
          assert.deepStrictEqual(recording.events, [`grant-1:admit:${handle.id}`, "grant-1:commit:32"])
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("shutdown mode handBack", () => {
  it.effect("is refused without a shared queue, and over the memory queue", () =>
    Effect.gen(function*() {
      const unshared = yield* Effect.flip(make({ types: [work], shutdown: { mode: "handBack" } }))
      assert.strictEqual((unshared as { _tag: string })._tag, "InvalidOptions")
      const memory = yield* Effect.flip(
        make({ types: [work], shared: sharedOptions, shutdown: { mode: "handBack" } })
      )
      assert.strictEqual((memory as { _tag: string })._tag, "InvalidOptions")
      assert.match((memory as { message: string }).message, /durable queue/)
      const unknown = yield* Effect.flip(make({ types: [work], shutdown: { mode: "later" as never } }))
      assert.match((unknown as { message: string }).message, /handBack/)
    }).pipe(Effect.scoped))

  for (const backend of sqlQueues) {
    it.live(
      `hands the running tasks back to the queue; another supervisor runs them — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          const recording = recordingPolicy()
          const started = yield* Deferred.make<void>()
          let interrupted = 0
          const first = yield* Scope.make()
          const sup = yield* Scope.extend(
            build({
              types: [work],
              admission: [recording.policy],
              shared: sharedOptions,
              shutdown: { mode: "handBack", timeout: 0 },
              workers: [
                Task.worker(work, {
                  name: "w",
                  maxConcurrent: 1,
                  // Reports usage, then holds its slot until the hand-back interrupts it.
                  handler: (_, context) =>
                    context.reportUsage(TokenUsage.make({ inputTokens: 100, outputTokens: 20 })).pipe(
                      Effect.zipRight(Deferred.succeed(started, undefined)),
                      Effect.zipRight(Effect.never),
                      Effect.onInterrupt(() => Effect.sync(() => interrupted++))
                    )
                })
              ]
            }, layer),
            first
          )
          const running = yield* sup.submit({ type: work, payload: { n: 1 } })
          const queued = yield* sup.submit({ type: work, payload: { n: 2 } })
          yield* Deferred.await(started)
          yield* Scope.close(first, Exit.void)
          assert.strictEqual(interrupted, 1)
          const back = Option.getOrThrow(yield* queue.status(running.id))
          assert.deepStrictEqual(
            [back.status, back.failures, back.lostDeliveries, back.deliveries, back.record.usage],
            ["queued", 0, 0, 1, TokenUsage.make({ inputTokens: 100, outputTokens: 20 })]
          )
          assert.strictEqual(Option.getOrThrow(yield* queue.status(queued.id)).status, "queued")
          // Its grant is not settled by the process that handed it back.
          assert.strictEqual(recording.settled.size, 0)
          const next = yield* build({
            types: [work],
            admission: [recording.policy],
            shared: sharedOptions,
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 1,
                handler: ({ n }, context) =>
                  Effect.as(context.reportUsage(TokenUsage.make({ inputTokens: 5, outputTokens: 1 })), n * 10)
              })
            ]
          }, layer)
          assert.deepStrictEqual([yield* next.result(running.id), yield* next.result(queued.id)], [10, 20])
          const done = Option.getOrThrow(yield* queue.status(running.id))
          assert.deepStrictEqual([done.status, done.failures, done.lostDeliveries], ["completed", 0, 0])
          yield* waitUntil(Effect.sync(() => recording.settled.size === 2))
          for (const count of recording.settled.values()) assert.strictEqual(count, 1)
          // Committed once, by the process that ended it, with the usage reported before the hand-back too.
          assert.deepStrictEqual(
            recording.events.filter((event) => event.includes(":commit:")).sort(),
            ["grant-1:commit:126", "grant-2:commit:6"]
          )
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("a submitWait whose timeout passes while its task is being queued", () => {
  it.effect("is not cut there: the task granted is queued and answered, and its grant is settled once", () =>
    Effect.gen(function*() {
      // A slow queue (a loaded database): the offer outlasts the submit's timeout.
      const { layer } = yield* queueOf(
        Layer.effect(
          TaskQueue.TaskQueue,
          Effect.map(TaskQueue.TaskQueue, (inner): TaskQueue.TaskQueueService => ({
            ...inner,
            offer: (task, options) => Effect.zipRight(Effect.sleep("300 millis"), inner.offer(task, options))
          }))
        ).pipe(Layer.provide(TaskQueue.layerMemory()))
      )
      const recording = recordingPolicy()
      const sup = yield* build({ types: [work], admission: [recording.policy], shared: sharedOptions }, layer)
      const submitted = yield* Effect.fork(sup.submitWait({ type: work, payload: { n: 1 } }, { timeout: "50 millis" }))
      yield* settle
      // Past its timeout, the offer still running: not answered yet, and not refused.
      yield* TestClock.adjust("50 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(submitted)))
      yield* TestClock.adjust("250 millis")
      const handle = yield* Fiber.join(submitted)
      assert.strictEqual(yield* sup.status(handle.id), "queued")
      yield* sup.cancel(handle.id)
      assert.deepStrictEqual(recording.events, [`grant-1:admit:${handle.id}`, "grant-1:release"])
    }).pipe(Effect.scoped))
})

describe("a submit that gives up while a policy is taking its grant", () => {
  it.effect("does not cut the grant step: a grant taken after it left is released, once", () =>
    Effect.gen(function*() {
      // A policy whose grant is taken (tokens held) before its admit returns,
      // as a store that writes the reservation and then answers.
      const held = new Map<string, number>()
      let next = 0
      const slowPolicy: AdmissionPolicy.AdmissionPolicyService = {
        admit: () =>
          Effect.suspend(() => {
            const id = `grant-${++next}`
            held.set(id, 0)
            return Effect.as(Effect.sleep("2 seconds"), { id })
          }),
        commit: (id) => Effect.sync(() => held.set(id, held.get(id)! + 1)),
        release: (id) => Effect.sync(() => held.set(id, held.get(id)! + 1))
      }
      const sup = yield* make({ types: [work], admission: [slowPolicy] })
      // One submitWait times out, one plain submit's caller is interrupted, both in the middle of admit.
      const waited = yield* Effect.fork(sup.submitWait({ type: work, payload: { n: 1 } }, { timeout: "1 second" }))
      const plain = yield* Effect.fork(sup.submit({ type: work, payload: { n: 2 } }))
      yield* settle
      yield* TestClock.adjust("1 second")
      // It gave up at its timeout, refused as a full system refuses (not SupervisorClosed: nothing closed).
      const refused = yield* Effect.flip(Fiber.join(waited))
      assert.strictEqual(refused._tag, "Backpressure")
      yield* Fiber.interrupt(plain)
      assert.deepStrictEqual([...held.entries()], [["grant-1", 0], ["grant-2", 0]])
      // The grant steps end after the callers left: both grants go back, once.
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual([...held.entries()], [["grant-1", 1], ["grant-2", 1]])
      assert.strictEqual((yield* sup.snapshot).queueDepth.work, 0)
    }).pipe(Effect.scoped))
})
