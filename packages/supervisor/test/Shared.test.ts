// The supervisor on a shared queue (the leased protocol): on memory, SQLite
// and Postgres one supervisor retries by its policy and records results in
// the queue, keeps idempotency keys in the queue, keeps its leases until an
// end is recorded, stops an attempt whose lease it lost, and settles the
// grants of tasks it cancels; on Postgres two supervisors (two connection
// pools, as two processes would have) share one queue: a cancel reaches a
// task running in the other one, a grant taken in one is settled by the
// other, one idempotency key makes one task, a group's limit is shared, and
// a lost notification is covered by the poll.
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as TokenUsage from "@agentos/core/TokenUsage"
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { StoreError } from "../src/Errors.js"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"
import { record } from "../src/Testing.js"
import { recordingPolicy } from "./fixtures.js"

const work = Task.taskType("work", { payload: Schema.Struct({ n: Schema.Number }), result: Schema.Number })

const sharedOptions = { lease: "600 millis", pollInterval: "200 millis", maxDeliveries: 3 } as const

/** A queue service built once in the scope, and its layer for supervisors. */
const queueOf = (layer: Layer.Layer<TaskQueue.TaskQueue, unknown>) =>
  Effect.map(Layer.build(layer), (context) => ({
    queue: Context.get(context, TaskQueue.TaskQueue),
    layer: Layer.succeedContext(context)
  }))

const supervisor = (
  options: Supervisor.Options,
  queue: Layer.Layer<TaskQueue.TaskQueue>
) =>
  Effect.map(
    Layer.build(Supervisor.layer({ shared: sharedOptions, ...options }).pipe(Layer.provide(queue))),
    (context) => Context.get(context, Supervisor.Supervisor)
  )

const backends: ReadonlyArray<{ readonly name: string; readonly layer: Layer.Layer<TaskQueue.TaskQueue, unknown> }> = [
  { name: "memory", layer: TaskQueue.layerMemory() },
  ...Backends.sqlBackends().map((backend) => ({
    name: backend.name,
    layer: TaskQueue.layerSql().pipe(Layer.provide(backend.layer))
  }))
]

describe("Supervisor on a shared queue", () => {
  for (const backend of backends) {
    it.live(
      `retries by the task's policy and records every end in the queue — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          let calls = 0
          const sup = yield* supervisor({
            types: [work],
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 2,
                handler: ({ n }) =>
                  Effect.suspend(() => {
                    if (n === 0) return Effect.fail("always")
                    return ++calls < 3 ? Effect.fail(`flaky ${calls}`) : Effect.succeed(n * 10)
                  })
              })
            ]
          }, layer)
          const flaky = yield* sup.submit({
            type: work,
            payload: { n: 4 },
            retry: { maxAttempts: 3, backoffMillis: 10 }
          })
          assert.strictEqual(yield* flaky.await, 40)
          assert.strictEqual(yield* sup.result(flaky.id), 40)
          assert.strictEqual(yield* sup.status(flaky.id), "completed")
          const stored = Option.getOrThrow(yield* queue.status(flaky.id))
          assert.deepStrictEqual([stored.failures, stored.lostDeliveries, stored.deliveries], [2, 0, 3])
          assert.deepStrictEqual(stored.outcome, { status: "completed", result: 40 })

          const failing = yield* sup.submit({
            type: work,
            payload: { n: 0 },
            retry: { maxAttempts: 2, backoffMillis: 10 }
          })
          const error = yield* Effect.flip(failing.await)
          assert.strictEqual(error._tag, "TaskFailed")
          if (error._tag === "TaskFailed") assert.strictEqual(error.attempts, 2)
          const failed = Option.getOrThrow(yield* queue.status(failing.id))
          assert.deepStrictEqual([failed.status, failed.failures, failed.lostDeliveries], ["failed", 2, 0])
          const byId = yield* Effect.flip(sup.result(failing.id))
          assert.strictEqual(byId._tag, "TaskFailed")
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor on a shared queue, idempotency keys", () => {
  for (const backend of backends) {
    it.live(`a second submit with a key gets the task already there — ${backend.name}`, () =>
      Effect.gen(function*() {
        const { layer, queue } = yield* queueOf(backend.layer)
        let calls = 0
        const sup = yield* supervisor({
          types: [work],
          workers: [
            Task.worker(work, {
              name: "w",
              maxConcurrent: 1,
              handler: ({ n }) => Effect.sync(() => (calls++, n))
            })
          ]
        }, layer)
        const first = yield* sup.submit({ type: work, payload: { n: 1 }, idempotencyKey: "once" })
        const second = yield* sup.submit({ type: work, payload: { n: 2 }, idempotencyKey: "once" })
        assert.strictEqual(second.id, first.id)
        assert.strictEqual(yield* second.await, 1)
        // Also once it has ended (its record is kept).
        const third = yield* sup.submit({ type: work, payload: { n: 3 }, idempotencyKey: "once" })
        assert.strictEqual(third.id, first.id)
        assert.strictEqual(yield* third.await, 1)
        assert.strictEqual(calls, 1)
        assert.strictEqual((yield* queue.stats).byType.work ?? 0, 0)
      }).pipe(Effect.scoped), 30_000)

    it.live(
      `a known key answers before the admission policies are asked — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer } = yield* queueOf(backend.layer)
          // Admits the first request only (a budget spent by it).
          const recording = recordingPolicy((request) => request.taskType === "work" && recording.granted() >= 1)
          const sup = yield* supervisor({ types: [work], admission: [recording.policy] }, layer)
          const first = yield* sup.submit({ type: work, payload: { n: 1 }, idempotencyKey: "paid" })
          const again = yield* sup.submit({ type: work, payload: { n: 1 }, idempotencyKey: "paid" })
          assert.strictEqual(again.id, first.id)
          assert.deepStrictEqual(recording.events, [`grant-1:admit:${first.id}`])
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor on a shared queue, a lease lost while its handler runs", () => {
  for (const backend of backends) {
    it.live(
      `the task claimed again in the same process stops the old attempt's handler — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          // Renewals that extend nothing: the lease runs out while the handler
          // runs, as after a pause longer than the lease.
          const { layer, queue } = yield* queueOf(
            Layer.effect(
              TaskQueue.TaskQueue,
              Effect.map(TaskQueue.TaskQueue, (inner): TaskQueue.TaskQueueService => ({
                ...inner,
                renew: () => Effect.succeed({ _tag: "Renewed", cancelRequested: false })
              }))
            ).pipe(Layer.provide(backend.layer))
          )
          let calls = 0
          let interrupted = 0
          const sup = yield* supervisor({
            types: [work],
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 2,
                handler: ({ n }) =>
                  Effect.suspend(() =>
                    ++calls === 1
                      ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted++))
                      : Effect.succeed(n)
                  )
              })
            ]
          }, layer)
          const handle = yield* sup.submit({ type: work, payload: { n: 5 } })
          assert.strictEqual(yield* handle.await, 5)
          yield* waitUntil(Effect.sync(() => interrupted === 1))
          assert.strictEqual(calls, 2)
          const stored = Option.getOrThrow(yield* queue.status(handle.id))
          assert.deepStrictEqual([stored.status, stored.deliveries, stored.lostDeliveries], ["completed", 2, 1])
          // Both slots are free again.
          const snapshot = yield* sup.snapshot
          assert.strictEqual(snapshot.workers[0]!.inFlight, 0)
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor on a shared queue, cancelling a queued task", () => {
  for (const backend of backends) {
    it.live(
      `its grant is released by the cancel itself, without reading the task again — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          // A queue whose `status` fails: the cancel must not depend on it.
          const { layer } = yield* queueOf(
            Layer.effect(
              TaskQueue.TaskQueue,
              Effect.map(TaskQueue.TaskQueue, (inner): TaskQueue.TaskQueueService => ({
                ...inner,
                status: () => Effect.fail(new StoreError({ operation: "status", cause: "unavailable" }))
              }))
            ).pipe(Layer.provide(backend.layer))
          )
          const recording = recordingPolicy()
          const sup = yield* supervisor({ types: [work], admission: [recording.policy] }, layer)
          const handle = yield* sup.submit({ type: work, payload: { n: 1 } })
          yield* sup.cancel(handle.id)
          assert.deepStrictEqual(recording.events, [`grant-1:admit:${handle.id}`, "grant-1:release"])
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor over a SQL queue, not shared", () => {
  for (const backend of Backends.sqlBackends()) {
    it.live(
      `keys held by tasks an earlier run left in the queue do not block a submit — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(TaskQueue.layerSql().pipe(Layer.provide(backend.layer)))
          // Left by an earlier run of this process: one taken (running), one queued.
          yield* queue.offer(record({ id: "old-running", type: "work", payload: { n: 0 }, idempotencyKey: "k2" }), {
            maxQueued: 10
          })
          assert.isTrue(Option.isSome(yield* queue.take("work", {})))
          yield* queue.offer(record({ id: "old-queued", type: "work", payload: { n: 0 }, idempotencyKey: "k1" }), {
            maxQueued: 10
          })
          const sup = yield* Effect.map(
            Layer.build(Supervisor.layer({ types: [work] }).pipe(Layer.provide(layer))),
            (context) => Context.get(context, Supervisor.Supervisor)
          )
          const first = yield* sup.submit({ type: work, payload: { n: 1 }, idempotencyKey: "k1" })
          const second = yield* sup.submit({ type: work, payload: { n: 2 }, idempotencyKey: "k2" })
          assert.notStrictEqual(first.id, "old-queued")
          assert.notStrictEqual(second.id, "old-running")
          yield* sup.addWorker(
            Task.worker(work, { name: "w", maxConcurrent: 1, handler: ({ n }) => Effect.succeed(n) })
          )
          assert.deepStrictEqual([yield* first.await, yield* second.await], [1, 2])
          // A second submit of a key known here is still the same task.
          assert.strictEqual((yield* sup.submit({ type: work, payload: { n: 3 }, idempotencyKey: "k1" })).id, first.id)
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor on a shared queue, a cancel asked while an attempt fails", () => {
  for (const backend of backends) {
    it.live(
      `the retry does not run: the queue ends the task cancelled at once, not after the delay — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          // Renewals that never report the cancel: only the claim can see it.
          const { layer, queue } = yield* queueOf(
            Layer.effect(
              TaskQueue.TaskQueue,
              Effect.map(TaskQueue.TaskQueue, (inner): TaskQueue.TaskQueueService => ({
                ...inner,
                renew: (id, token, leaseMillis) =>
                  Effect.map(
                    inner.renew(id, token, leaseMillis),
                    (renewed): TaskQueue.RenewResult =>
                      renewed._tag === "Renewed" ? { _tag: "Renewed", cancelRequested: false } : renewed
                  )
              }))
            ).pipe(Layer.provide(backend.layer))
          )
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          let calls = 0
          const sup = yield* supervisor({
            types: [work],
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 1,
                handler: ({ n }) =>
                  Effect.suspend(() =>
                    ++calls === 1
                      ? Effect.zipRight(
                        Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)),
                        Effect.fail("first attempt")
                      )
                      : Effect.succeed(n)
                  )
              })
            ]
          }, layer)
          // A retry delay longer than the test: the task must end without waiting it out.
          const handle = yield* sup.submit({
            type: work,
            payload: { n: 1 },
            retry: { maxAttempts: 3, backoffMillis: 60_000 }
          })
          yield* Deferred.await(started)
          // Asked in another process while the attempt runs; the attempt then fails.
          assert.strictEqual((yield* queue.cancel(handle.id))._tag, "Requested")
          yield* Deferred.succeed(release, undefined)
          assert.strictEqual((yield* Effect.flip(Effect.timeout(handle.await, "10 seconds")))._tag, "TaskCancelled")
          assert.strictEqual(calls, 1)
          assert.strictEqual(Option.getOrThrow(yield* queue.status(handle.id)).status, "cancelled")
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

describe("Supervisor on a shared queue, ending a task slowly", () => {
  for (const backend of backends) {
    it.live(
      `the lease is renewed until the end is recorded: a slow dead letter loses no delivery — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          const letters: Array<string> = []
          // Sending a dead letter takes two leases' time (a slow store). The
          // lease is long enough for a loaded machine to renew it in time.
          const lease = { ...sharedOptions, lease: "1500 millis" } as const
          const slowLetters = Layer.succeed(DeadLetters.DeadLetters, {
            send: (letter) =>
              Effect.as(
                Effect.zipRight(Effect.sync(() => letters.push(letter.taskId ?? "?")), Effect.sleep("3 seconds")),
                { letterId: `letter-${letter.taskId}` as never, duplicate: false }
              )
          })
          // A task that became a poison task elsewhere: it lost its maxDeliveries deliveries.
          yield* queue.offer(record({ id: "poisoned", type: "work", payload: { n: 1 } }), { maxQueued: 10 })
          for (let i = 0; i < sharedOptions.maxDeliveries; i++) {
            yield* queue.claim("work", { limits: {}, holder: "dead", leaseMillis: 30 })
            yield* Effect.sleep("60 millis")
            yield* queue.reclaim({ maxDeliveries: sharedOptions.maxDeliveries })
          }
          let calls = 0
          const sup = yield* supervisor({
            types: [work],
            shared: lease,
            workers: [
              Task.worker(work, {
                name: "w",
                maxConcurrent: 2,
                handler: () => Effect.suspend(() => Effect.fail(`failed ${++calls}`))
              })
            ]
          }, Layer.merge(layer, slowLetters))
          const failing = yield* sup.submit({ type: work, payload: { n: 2 }, retry: { maxAttempts: 1 } })
          assert.strictEqual((yield* Effect.flip(failing.await))._tag, "TaskDeadLettered")
          const failed = Option.getOrThrow(yield* queue.status(failing.id))
          assert.deepStrictEqual([failed.status, failed.deliveries, failed.lostDeliveries, failed.failures], [
            "dead-lettered",
            1,
            0,
            1
          ])
          assert.strictEqual(calls, 1)
          yield* waitUntil(Effect.map(queue.status("poisoned"), (stored) =>
            Option.isSome(stored) && stored.value.status === "dead-lettered"))
          const poisoned = Option.getOrThrow(yield* queue.status("poisoned"))
          assert.deepStrictEqual([poisoned.deliveries, poisoned.lostDeliveries, poisoned.failures], [
            sharedOptions.maxDeliveries + 1,
            sharedOptions.maxDeliveries,
            0
          ])
          assert.deepStrictEqual(letters.sort(), [failing.id, "poisoned"].sort())
        }).pipe(Effect.scoped),
      60_000
    )
  }
})

describe("Supervisor on a shared queue, a cancel whose runner died", () => {
  for (const backend of backends) {
    it.live(
      `the task ends cancelled at reclaim and its grant is released — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const { layer, queue } = yield* queueOf(backend.layer)
          const recording = recordingPolicy()
          const sup = yield* supervisor({ types: [work], admission: [recording.policy] }, layer)
          const handle = yield* sup.submit({ type: work, payload: { n: 1 } })
          // A runner in another process claims it, then dies.
          Option.getOrThrow(yield* queue.claim("work", { limits: {}, holder: "dead", leaseMillis: 300 }))
          yield* sup.cancel(handle.id)
          assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
          yield* waitUntil(Effect.sync(() => recording.settled.get("grant-1") === 1))
          assert.deepStrictEqual(recording.events, [`grant-1:admit:${handle.id}`, "grant-1:release"])
        }).pipe(Effect.scoped),
      30_000
    )
  }
})

// Two pools on one fresh Postgres schema: two queue layers, as two processes.
const twoQueues = Effect.gen(function*() {
  const first = yield* Layer.build(Backends.postgres())
  const database = Context.get(first, Backends.TestDatabase)
  const second = yield* Layer.build(Backends.postgres({ schema: database.schema! }))
  return (notifications = true) =>
    [
      queueOf(TaskQueue.layerSql({ notifications }).pipe(Layer.provide(Layer.succeedContext(first)))),
      queueOf(TaskQueue.layerSql({ notifications }).pipe(Layer.provide(Layer.succeedContext(second))))
    ] as const
})

const waitUntil = <E>(condition: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      if (yield* condition) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error("the condition never held"))
  })

describe.skipIf(Backends.skipPostgres())("two supervisors on one Postgres queue", () => {
  it.live("a cancel in one process reaches the task running in the other", () =>
    Effect.gen(function*() {
      const queues = (yield* twoQueues)()
      const a = yield* queues[0]
      const b = yield* queues[1]
      const interrupted = yield* Deferred.make<void>()
      const runner = yield* supervisor({
        types: [work],
        workers: [
          Task.worker(work, {
            name: "w",
            maxConcurrent: 1,
            handler: () => Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
          })
        ]
      }, a.layer)
      const other = yield* supervisor({ types: [work] }, b.layer)
      const handle = yield* runner.submit({ type: work, payload: { n: 1 } })
      yield* waitUntil(Effect.map(other.status(handle.id), (status) => status === "running"))
      yield* other.cancel(handle.id)
      yield* Deferred.await(interrupted)
      assert.strictEqual(yield* other.status(handle.id), "cancelled")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
    }).pipe(Effect.scoped), 30_000)

  it.live(
    "a grant taken at submit in one process is settled once by the process that ends the task",
    () =>
      Effect.gen(function*() {
        const queues = (yield* twoQueues)()
        const a = yield* queues[0]
        const b = yield* queues[1]
        const recording = recordingPolicy()
        const submitter = yield* supervisor({ types: [work], admission: [recording.policy] }, a.layer)
        yield* supervisor({
          types: [work],
          admission: [recording.policy],
          workers: [
            Task.worker(work, {
              name: "runner",
              maxConcurrent: 1,
              handler: ({ n }, context) =>
                Effect.as(context.reportUsage(TokenUsage.make({ inputTokens: n, outputTokens: 1 })), n)
            })
          ]
        }, b.layer)
        const handle = yield* submitter.submit({ type: work, payload: { n: 7 } })
        assert.strictEqual(yield* handle.await, 7)
        yield* waitUntil(Effect.sync(() => recording.settled.get("grant-1") === 1))
        assert.deepStrictEqual(recording.events, [`grant-1:admit:${handle.id}`, "grant-1:commit:8"])
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("submitWait on a full queue is admitted when another process starts a task", () =>
    Effect.gen(function*() {
      const queues = (yield* twoQueues)()
      const a = yield* queues[0]
      const b = yield* queues[1]
      const bounded = Task.taskType("bounded", {
        payload: Schema.Struct({ n: Schema.Number }),
        result: Schema.Number,
        maxQueued: 1
      })
      const submitter = yield* supervisor({ types: [bounded] }, a.layer)
      const first = yield* submitter.submit({ type: bounded, payload: { n: 1 } })
      assert.strictEqual(
        (yield* Effect.flip(submitter.submit({ type: bounded, payload: { n: 2 } })))._tag,
        "Backpressure"
      )
      const waiting = yield* Effect.fork(
        submitter.submitWait({ type: bounded, payload: { n: 3 } }, { timeout: "20 seconds" })
      )
      // Only the other process starts tasks: the room it makes is seen by the submitter's poll.
      yield* supervisor({
        types: [bounded],
        workers: [Task.worker(bounded, { name: "runner", maxConcurrent: 1, handler: ({ n }) => Effect.succeed(n) })]
      }, b.layer)
      const third = yield* Effect.flatten(Effect.map(waiting.await, (exit) => exit))
      assert.strictEqual(yield* first.await, 1)
      assert.strictEqual(yield* third.await, 3)
    }).pipe(Effect.scoped), 30_000)

  it.live(
    "submits with one idempotency key racing in two processes make one task; other grants are released",
    () =>
      Effect.gen(function*() {
        const queues = (yield* twoQueues)()
        const a = yield* queues[0]
        const b = yield* queues[1]
        const recording = recordingPolicy()
        let calls = 0
        const worker = Task.worker(work, {
          name: "w",
          maxConcurrent: 2,
          handler: ({ n }) => Effect.sync(() => (calls++, n))
        })
        const first = yield* supervisor({ types: [work], admission: [recording.policy], workers: [worker] }, a.layer)
        const second = yield* supervisor({ types: [work], admission: [recording.policy], workers: [worker] }, b.layer)
        const handles = yield* Effect.all(
          Array.from(
            { length: 12 },
            (_, n) => (n % 2 === 0 ? first : second).submit({ type: work, payload: { n }, idempotencyKey: "race" })
          ),
          { concurrency: "unbounded" }
        )
        const ids = new Set(handles.map((handle) => handle.id))
        assert.strictEqual(ids.size, 1)
        const result = yield* handles[0]!.await
        for (const handle of handles) assert.strictEqual(yield* handle.await, result)
        assert.strictEqual(calls, 1)
        // Every grant taken is settled once: those of submits that lost the race
        // released unused, the task's by its end (a submit that found the key
        // already held took none).
        yield* waitUntil(Effect.sync(() => recording.granted() > 0 && recording.settled.size === recording.granted()))
        assert.isTrue([...recording.settled.values()].every((n) => n === 1))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("a group's limit holds across two supervisors sharing the queue", () =>
    Effect.gen(function*() {
      const queues = (yield* twoQueues)()
      const a = yield* queues[0]
      const b = yield* queues[1]
      let running = 0
      let most = 0
      const ranBy: Array<string> = []
      // Each process runs at most 2 at once, so the group's third slot is the
      // other process's: the limit (3) is below what both could run (4).
      const worker = (name: string) =>
        Task.worker(work, {
          name,
          maxConcurrent: 2,
          handler: ({ n }) =>
            Effect.acquireUseRelease(
              Effect.sync(() => {
                most = Math.max(most, ++running)
                ranBy.push(name)
              }),
              () => Effect.as(Effect.sleep("200 millis"), n),
              () => Effect.sync(() => running--)
            )
        })
      const groupLimits = { byGroup: { g: 3 } }
      // Leases long enough that a loaded machine's late renewals lose none (a lost one is a lost delivery).
      const shared = { ...sharedOptions, lease: "5 seconds" } as const
      const first = yield* supervisor({ types: [work], groupLimits, shared, workers: [worker("a")] }, a.layer)
      yield* supervisor({ types: [work], groupLimits, shared, workers: [worker("b")] }, b.layer)
      const handles = yield* Effect.forEach(
        Array.from({ length: 16 }, (_, n) => n),
        (n) => first.submit({ type: work, payload: { n }, groupKey: "g" }),
        { concurrency: "unbounded" }
      )
      const results = yield* Effect.forEach(handles, (handle) => handle.await)
      assert.deepStrictEqual(results, Array.from({ length: 16 }, (_, n) => n))
      assert.isAtMost(most, 3)
      // Both processes ran tasks of the group: the limit was shared, not per process.
      assert.deepStrictEqual([...new Set(ranBy)].sort(), ["a", "b"])
    }).pipe(Effect.scoped), 30_000)

  it.live("with every notification lost, the poll still starts the task", () =>
    Effect.gen(function*() {
      const queues = (yield* twoQueues)(false)
      const a = yield* queues[0]
      const b = yield* queues[1]
      const submitter = yield* supervisor({ types: [work] }, a.layer)
      yield* supervisor({
        types: [work],
        shared: { ...sharedOptions, pollInterval: "300 millis" },
        workers: [Task.worker(work, { name: "runner", maxConcurrent: 1, handler: ({ n }) => Effect.succeed(n + 1) })]
      }, b.layer)
      const handle = yield* submitter.submit({ type: work, payload: { n: 1 } })
      assert.strictEqual(yield* handle.await, 2)
    }).pipe(Effect.scoped), 30_000)

  it.live(
    "a notification starts the task in the other process without waiting for the poll",
    () =>
      Effect.gen(function*() {
        const queues = (yield* twoQueues)()
        const a = yield* queues[0]
        const b = yield* queues[1]
        const submitter = yield* supervisor({ types: [work] }, a.layer)
        const started = yield* Deferred.make<void>()
        yield* supervisor({
          types: [work],
          // A poll far beyond this test's timeout: only the notification can start the task.
          shared: { ...sharedOptions, pollInterval: "10 minutes" },
          workers: [
            Task.worker(work, {
              name: "runner",
              maxConcurrent: 1,
              handler: ({ n }) => Effect.as(Deferred.succeed(started, undefined), n)
            })
          ]
        }, b.layer)
        // LISTEN is set up asynchronously: submit until one is noticed.
        yield* Effect.gen(function*() {
          for (let i = 0; i < 40; i++) {
            yield* submitter.submit({ type: work, payload: { n: i } })
            if (Option.isSome(yield* Effect.timeout(Deferred.await(started), "250 millis").pipe(Effect.option))) return
          }
          return yield* Effect.die(new Error("no notification was received"))
        })
      }).pipe(Effect.scoped),
    30_000
  )
})
