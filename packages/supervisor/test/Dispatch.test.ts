import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as TokenUsage from "@agentos/core/TokenUsage"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"
import {
  contractQueue,
  echo,
  echoWorker,
  gates,
  make,
  recordingDeadLetters,
  recordingPolicy,
  settle
} from "./fixtures.js"

describe("submit", () => {
  it.scoped("an unknown type, an invalid payload or a bad field is a typed error at submit", () =>
    Effect.gen(function*() {
      const supervisor = yield* make({ types: [echo] })
      const unknown = yield* Effect.flip(supervisor.submit({ type: "nope", payload: {} }))
      assert.strictEqual(unknown._tag, "UnknownTaskType")
      const payload = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: "one" } }))
      assert.strictEqual(payload._tag, "InvalidPayload")
      const priority = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 1 }, priority: 1.5 }))
      assert.strictEqual(priority._tag, "InvalidInput")
      const retry = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 1 }, retry: { maxAttempts: 0 } }))
      assert.strictEqual(retry._tag, "InvalidInput")
      assert.deepStrictEqual((yield* supervisor.snapshot).queueDepth, { echo: 0 })
    }))

  it.scoped("runs tasks by priority (lower first), then age", () =>
    Effect.gen(function*() {
      const order: Array<number> = []
      const gate = gates()
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }) => Effect.as(n === 0 ? gate.wait(0) : Effect.sync(() => order.push(n)), n))
        ]
      })
      const blocker = yield* supervisor.submit({ type: echo, payload: { n: 0 } })
      const handles = []
      for (const [n, priority] of [[1, 2], [2, 0], [3, 1], [4, 0], [5, 2]] as const) {
        handles.push(yield* supervisor.submit({ type: echo, payload: { n }, priority }))
      }
      yield* gate.open(0)
      yield* blocker.await
      for (const handle of handles) yield* handle.await
      assert.deepStrictEqual(order, [2, 4, 3, 1, 5])
    }))

  it.scoped("a full queue fails fast with Backpressure; submitWait waits for room or its timeout", () =>
    Effect.gen(function*() {
      const gate = gates()
      const supervisor = yield* make({
        types: [echo],
        maxQueued: 2,
        workers: [echoWorker(({ n }) => Effect.as(gate.wait(n), n))]
      })
      const running = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      yield* settle
      yield* supervisor.submit({ type: echo, payload: { n: 2 } })
      yield* supervisor.submit({ type: echo, payload: { n: 3 } })
      const refused = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 4 } }))
      assert.strictEqual(refused._tag, "Backpressure")
      if (refused._tag !== "Backpressure") return
      assert.strictEqual(refused.queueDepth, 2)
      assert.strictEqual(refused.maxQueued, 2)
      assert.strictEqual(refused.load, 1)
      assert.isAbove(refused.retryAfterMillis, 0)

      // With a timeout, submitWait gives up with the last refusal.
      const timedOut = yield* Effect.fork(
        supervisor.submitWait({ type: echo, payload: { n: 4 } }, { timeout: "1 second" })
      )
      yield* settle
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(timedOut)
      assert.isTrue(Exit.isFailure(exit) && Option.getOrThrow(Exit.causeOption(exit)) !== undefined)
      assert.strictEqual(Exit.isFailure(exit) ? (yield* Effect.flip(exit))._tag : "", "Backpressure")

      // Without one, it is admitted as soon as a queued task starts.
      const waiting = yield* Effect.fork(supervisor.submitWait({ type: echo, payload: { n: 5 } }))
      yield* settle
      assert.isNull(waiting.unsafePoll())
      yield* gate.open(1)
      yield* running.await
      const admitted = yield* Fiber.join(waiting)
      yield* Effect.forEach([2, 3, 5], gate.open)
      assert.strictEqual(yield* admitted.await, 5)
    }))

  it.scoped("a type with no free worker never blocks another type (the article re-queued with a sleep)", () =>
    Effect.gen(function*() {
      const slow = Task.taskType("slow", { payload: Schema.Number, result: Schema.Number })
      const gate = gates()
      const supervisor = yield* make({
        types: [slow, echo],
        workers: [
          Task.worker(slow, { name: "slow", maxConcurrent: 1, handler: (n) => Effect.as(gate.wait(0), n) }),
          Task.worker(echo, { name: "fast", maxConcurrent: 1, handler: ({ n }) => Effect.succeed(n * 2) })
        ]
      })
      const slowOnes = yield* Effect.forEach([1, 2, 3], (n) => supervisor.submit({ type: slow, payload: n }))
      const fast = yield* Effect.forEach([1, 2, 3], (n) => supervisor.submit({ type: echo, payload: { n } }))
      // No clock moves: the fast tasks complete while the slow type waits.
      assert.deepStrictEqual(yield* Effect.forEach(fast, (handle) => handle.await), [2, 4, 6])
      assert.strictEqual((yield* supervisor.snapshot).queueDepth.slow, 2)
      yield* gate.open(0)
      assert.deepStrictEqual(yield* Effect.forEach(slowOnes, (handle) => handle.await), [1, 2, 3])
    }))

  it.scoped("an idempotency key returns the existing task's handle", () =>
    Effect.gen(function*() {
      const runs: Array<number> = []
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }) => Effect.as(Effect.sync(() => runs.push(n)), n))
        ]
      })
      const first = yield* supervisor.submit({ type: echo, payload: { n: 1 }, idempotencyKey: "k" })
      const second = yield* supervisor.submit({ type: echo, payload: { n: 2 }, idempotencyKey: "k" })
      assert.strictEqual(second.id, first.id)
      assert.strictEqual(yield* second.await, 1)
      const third = yield* supervisor.submit({ type: echo, payload: { n: 3 }, idempotencyKey: "k" })
      assert.strictEqual(third.id, first.id)
      assert.deepStrictEqual(runs, [1])
    }))
})

describe("dispatch", () => {
  it.scoped("at most N tasks of a group run at once; other groups are not held back", () =>
    Effect.gen(function*() {
      const gate = gates()
      const running = new Map<string, number>()
      const peak = new Map<string, number>()
      const started: Array<number> = []
      const grouped = Task.taskType("grouped", {
        payload: Schema.Struct({ n: Schema.Number, group: Schema.String }),
        result: Schema.Number
      })
      const supervisor = yield* make({
        types: [grouped],
        groupLimits: { default: 1, byGroup: { wide: 2 } },
        workers: [
          Task.worker(grouped, {
            name: "w",
            maxConcurrent: 8,
            handler: ({ group, n }) =>
              Effect.acquireUseRelease(
                Effect.sync(() => {
                  started.push(n)
                  running.set(group, (running.get(group) ?? 0) + 1)
                  peak.set(group, Math.max(peak.get(group) ?? 0, running.get(group)!))
                }),
                () => Effect.as(gate.wait(n), n),
                () => Effect.sync(() => running.set(group, running.get(group)! - 1))
              )
          })
        ]
      })
      const submit = (n: number, group: string) =>
        supervisor.submit({ type: grouped, payload: { n, group }, groupKey: group })
      const handles = [
        yield* submit(1, "alice"),
        yield* submit(2, "alice"),
        yield* submit(3, "alice"),
        yield* submit(4, "bob"),
        yield* submit(5, "wide"),
        yield* submit(6, "wide"),
        yield* submit(7, "wide")
      ]
      yield* settle
      assert.deepStrictEqual(started, [1, 4, 5, 6])
      const snapshot = yield* supervisor.snapshot
      assert.deepStrictEqual(snapshot.groups.alice, { queued: 2, running: 1 })
      yield* gate.open(1)
      yield* settle
      assert.deepStrictEqual(started, [1, 4, 5, 6, 2])
      yield* Effect.forEach([2, 3, 4, 5, 6, 7], gate.open)
      yield* Effect.forEach(handles, (handle) => handle.await)
      assert.deepStrictEqual(Object.fromEntries(peak), { alice: 1, bob: 1, wide: 2 })
    }))

  it.scoped("sends each task to the least-loaded capable worker, never above maxConcurrent", () =>
    Effect.gen(function*() {
      const gate = gates()
      const ran = new Map<string, number>()
      const handler = (name: string) => ({ n }: { n: number }) =>
        Effect.as(Effect.zipRight(Effect.sync(() => ran.set(name, (ran.get(name) ?? 0) + 1)), gate.wait(0)), n)
      const supervisor = yield* make({
        types: [echo],
        workers: [
          Task.worker(echo, { name: "big", maxConcurrent: 4, handler: handler("big") }),
          Task.worker(echo, { name: "small", maxConcurrent: 2, handler: handler("small") })
        ]
      })
      const handles = yield* Effect.forEach(
        [1, 2, 3, 4, 5, 6, 7],
        (n) => supervisor.submit({ type: echo, payload: { n } })
      )
      yield* settle
      assert.deepStrictEqual(Object.fromEntries(ran), { big: 4, small: 2 })
      const snapshot = yield* supervisor.snapshot
      assert.deepStrictEqual(snapshot.workers.map((w) => [w.name, w.inFlight, w.state]), [
        ["big", 4, "overloaded"],
        ["small", 2, "overloaded"]
      ])
      assert.strictEqual(snapshot.queueDepth.echo, 1)
      assert.strictEqual(snapshot.load, 1)
      yield* gate.open(0)
      yield* Effect.forEach(handles, (handle) => handle.await)
    }))

  it.scoped("workers are added and removed at runtime; a removed worker finishes its in-flight task", () =>
    Effect.gen(function*() {
      const gate = gates()
      const ranOn: Array<string> = []
      const handler = (name: string) => ({ n }: { n: number }) =>
        Effect.as(Effect.zipRight(Effect.sync(() => ranOn.push(`${name}:${n}`)), gate.wait(n)), n)
      const supervisor = yield* make({ types: [echo] })
      const first = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      yield* settle
      assert.strictEqual(yield* supervisor.status(first.id), "queued")
      yield* supervisor.addWorker(Task.worker(echo, { name: "a", maxConcurrent: 1, handler: handler("a") }))
      yield* settle
      assert.strictEqual(yield* supervisor.status(first.id), "running")
      yield* supervisor.removeWorker("a")
      const second = yield* supervisor.submit({ type: echo, payload: { n: 2 } })
      yield* settle
      assert.strictEqual((yield* supervisor.snapshot).workers[0]!.state, "removing")
      yield* supervisor.addWorker(Task.worker(echo, { name: "b", maxConcurrent: 1, handler: handler("b") }))
      yield* Effect.forEach([1, 2], gate.open)
      assert.strictEqual(yield* first.await, 1)
      assert.strictEqual(yield* second.await, 2)
      assert.deepStrictEqual(ranOn, ["a:1", "b:2"])
      assert.deepStrictEqual((yield* supervisor.snapshot).workers.map((w) => w.name), ["b"])
      const bad = yield* Effect.flip(
        supervisor.addWorker({ name: "c", taskTypes: ["nope"], maxConcurrent: 1, handler: () => Effect.void })
      )
      assert.strictEqual(bad._tag, "InvalidInput")
    }))
})

describe("load", () => {
  it.scoped(
    "thousands of queued tasks all run once a worker arrives (dispatch never nests a task in its parent)",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* make({ types: [echo], maxQueued: 5_000 })
        const handles = yield* Effect.forEach(
          Array.from({ length: 3_000 }, (_, i) => i),
          (n) => supervisor.submit({ type: echo, payload: { n }, priority: n % 3 })
        )
        yield* supervisor.addWorker(
          Task.worker(echo, { name: "w", maxConcurrent: 16, handler: ({ n }) => Effect.succeed(n) })
        )
        const results = yield* Effect.forEach(handles, (handle) => handle.await)
        assert.strictEqual(results.length, 3_000)
        assert.strictEqual((yield* supervisor.snapshot).workers[0]!.completed, 3_000)
      }),
    60_000
  )
})

describe("outcomes", () => {
  it.scoped("a timeout interrupts the handler (its finalizer runs) and fails with TaskTimeout", () =>
    Effect.gen(function*() {
      let finalized = false
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(() => Effect.never.pipe(Effect.ensuring(Effect.sync(() => void (finalized = true)))))
        ]
      })
      const handle = yield* supervisor.submit({ type: echo, payload: { n: 1 }, timeoutMillis: 5_000 })
      yield* settle
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* handle.poll))
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(handle.await)
      assert.strictEqual(error._tag, "TaskTimeout")
      assert.isTrue(finalized)
      assert.strictEqual(yield* supervisor.status(handle.id), "failed")
    }))

  it.scoped("retries follow the task's policy, with the backoff from the clock", () =>
    Effect.gen(function*() {
      const attempts: Array<number> = []
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }, context) =>
            Effect.suspend(() => {
              attempts.push(context.attempt)
              return context.attempt < 3 ? Effect.fail("flaky") : Effect.succeed(n)
            })
          )
        ]
      })
      const handle = yield* supervisor.submit({
        type: echo,
        payload: { n: 7 },
        retry: { maxAttempts: 3, backoffMillis: 100 }
      })
      yield* settle
      assert.deepStrictEqual(attempts, [1])
      assert.strictEqual(yield* supervisor.status(handle.id), "retrying")
      yield* TestClock.adjust("100 millis")
      yield* settle
      assert.deepStrictEqual(attempts, [1, 2])
      yield* TestClock.adjust("199 millis")
      assert.deepStrictEqual(attempts, [1, 2])
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* handle.await, 7)
      assert.deepStrictEqual(attempts, [1, 2, 3])
    }))

  it.scoped("a timed-out attempt is retried; cancel during the backoff ends the task cancelled", () =>
    Effect.gen(function*() {
      const attempts: Array<number> = []
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }, context) =>
            Effect.suspend(() => {
              attempts.push(context.attempt)
              return context.attempt === 1 ? Effect.never : Effect.succeed(n)
            })
          )
        ]
      })
      const retry = { maxAttempts: 2, backoffMillis: 50 }
      const handle = yield* supervisor.submit({ type: echo, payload: { n: 3 }, timeoutMillis: 1_000, retry })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(yield* supervisor.status(handle.id), "retrying")
      yield* TestClock.adjust("50 millis")
      assert.strictEqual(yield* handle.await, 3)
      assert.deepStrictEqual(attempts, [1, 2])

      const cancelled = yield* supervisor.submit({ type: echo, payload: { n: 4 }, timeoutMillis: 1_000, retry })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(yield* supervisor.status(cancelled.id), "retrying")
      yield* cancelled.cancel
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Effect.flip(cancelled.await))._tag, "TaskCancelled")
      assert.deepStrictEqual(attempts, [1, 2, 1])
    }))

  it.scoped("exhausted retries: the task's failure is on its handle without a dead letter queue", () =>
    Effect.gen(function*() {
      const failing = Task.taskType("failing", {
        payload: Schema.Number,
        result: Schema.Number,
        retry: Schedule.recurs(1)
      })
      const supervisor = yield* make({
        types: [failing],
        workers: [Task.worker(failing, { name: "w", maxConcurrent: 1, handler: () => Effect.fail(new Error("boom")) })]
      })
      const error = yield* Effect.flip((yield* supervisor.submit({ type: failing, payload: 1 })).await)
      assert.strictEqual(error._tag, "TaskFailed")
      if (error._tag !== "TaskFailed") return
      assert.strictEqual(error.attempts, 2)
      assert.strictEqual(error.error.message, "boom")
    }))

  it.scoped("exhausted retries become a dead letter when the port is provided", () =>
    Effect.gen(function*() {
      const dlq = recordingDeadLetters()
      const supervisor = yield* make(
        {
          types: [echo],
          workers: [echoWorker(() => Effect.fail(new Error("boom")))]
        },
        Layer.succeed(DeadLetters.DeadLetters, dlq.service)
      )
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(supervisor.events, 1)))
      yield* settle
      const handle = yield* supervisor.submit({
        type: echo,
        payload: { n: 1 },
        agentId: "alice",
        groupKey: "tenant-1",
        retry: { maxAttempts: 2, backoffMillis: 10 }
      })
      yield* TestClock.adjust("10 millis")
      const error = yield* Effect.flip(handle.await)
      assert.strictEqual(error._tag, "TaskDeadLettered")
      assert.strictEqual(yield* supervisor.status(handle.id), "dead-lettered")
      assert.strictEqual(dlq.letters.length, 1)
      const letter = dlq.letters[0]!
      assert.strictEqual(letter.attempts, 2)
      assert.strictEqual(letter.error.message, "boom")
      assert.strictEqual(letter.agent, "alice")
      assert.deepStrictEqual(letter.payload, { n: 1 })
      assert.deepStrictEqual(letter.context, { priority: 0, timeoutMillis: 60_000, groupKey: "tenant-1" })
      const [event] = Chunk.toArray(yield* Fiber.join(events))
      assert.strictEqual(event!._tag, "TaskDeadLettered")
    }))

  it.scoped("a dead letter that cannot be written: the failure stays on the handle, logged and published", () =>
    Effect.gen(function*() {
      const dlq = recordingDeadLetters(true)
      const supervisor = yield* make(
        {
          types: [echo],
          workers: [echoWorker(() => Effect.fail(new Error("boom")))]
        },
        Layer.succeed(DeadLetters.DeadLetters, dlq.service)
      )
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(supervisor.events, 1)))
      yield* settle
      const error = yield* Effect.flip((yield* supervisor.submit({ type: echo, payload: { n: 1 } })).await)
      assert.strictEqual(error._tag, "TaskFailed")
      if (error._tag !== "TaskFailed") return
      assert.strictEqual(error.deadLetterError, "store down")
      assert.strictEqual(error.error.message, "boom")
      const [event] = Chunk.toArray(yield* Fiber.join(events))
      assert.deepStrictEqual(event, {
        _tag: "DeadLetterFailed",
        taskId: error.taskId as never,
        taskType: "echo",
        message: "store down"
      })
    }))

  it.scoped("a result the result schema refuses fails the task", () =>
    Effect.gen(function*() {
      const supervisor = yield* make({
        types: [echo],
        workers: [echoWorker(() => Effect.succeed("x" as never))]
      })
      const error = yield* Effect.flip((yield* supervisor.submit({ type: echo, payload: { n: 1 } })).await)
      assert.strictEqual(error._tag, "TaskFailed")
      assert.strictEqual(error._tag === "TaskFailed" ? error.error.tag : "", "InvalidResult")
    }))

  it.scoped("cancel drops a queued task and interrupts a running one (its finalizer runs)", () =>
    Effect.gen(function*() {
      let finalized = 0
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(() => Effect.never.pipe(Effect.ensuring(Effect.sync(() => void finalized++))))
        ]
      })
      const running = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      const queued = yield* supervisor.submit({ type: echo, payload: { n: 2 } })
      yield* settle
      yield* queued.cancel
      assert.strictEqual(yield* supervisor.status(queued.id), "cancelled")
      assert.strictEqual(finalized, 0)
      yield* supervisor.cancel(running.id)
      assert.strictEqual(finalized, 1)
      assert.strictEqual((yield* Effect.flip(running.await))._tag, "TaskCancelled")
      assert.strictEqual(yield* supervisor.status(running.id), "cancelled")
      assert.strictEqual((yield* supervisor.snapshot).workers[0]!.inFlight, 0)
    }))

  it.scoped("a task cancelled right after it was dispatched ends cancelled, without running its handler", () =>
    Effect.gen(function*() {
      let ran = 0
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }) => Effect.sync(() => ran++).pipe(Effect.as(n)))
        ]
      })
      // Dispatched at submit: its fiber is forked but has not started yet.
      const handle = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      assert.strictEqual(yield* supervisor.status(handle.id), "running")
      yield* handle.cancel
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.strictEqual(ran, 0)
      assert.strictEqual((yield* supervisor.snapshot).workers[0]!.inFlight, 0)
      // The worker takes the next task.
      assert.strictEqual(yield* (yield* supervisor.submit({ type: echo, payload: { n: 2 } })).await, 2)
    }))

  it.scoped("an idempotency key is free again once its task's result is no longer kept", () =>
    Effect.gen(function*() {
      const supervisor = yield* make({
        types: [echo],
        results: { retention: "1 minute" },
        workers: [echoWorker(({ n }) => Effect.succeed(n))]
      })
      const first = yield* supervisor.submit({ type: echo, payload: { n: 1 }, idempotencyKey: "k" })
      yield* first.await
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Effect.flip(supervisor.status(first.id)))._tag, "TaskNotFound")
      const second = yield* supervisor.submit({ type: echo, payload: { n: 2 }, idempotencyKey: "k" })
      assert.notStrictEqual(second.id, first.id)
      assert.strictEqual(yield* second.await, 2)
    }))

  it.scoped("results are kept for a bounded count and time (the article's map grew forever)", () =>
    Effect.gen(function*() {
      const supervisor = yield* make({
        types: [echo],
        results: { maxCount: 3, retention: "1 minute" },
        workers: [echoWorker(({ n }) => Effect.succeed(n))]
      })
      const handles = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => supervisor.submit({ type: echo, payload: { n } }))
      yield* Effect.forEach(handles, (handle) => handle.await)
      for (const handle of handles.slice(0, 2)) {
        assert.strictEqual((yield* Effect.flip(supervisor.status(handle.id)))._tag, "TaskNotFound")
      }
      assert.strictEqual(yield* supervisor.result(handles[4]!.id), 5)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Effect.flip(supervisor.result(handles[4]!.id)))._tag, "TaskNotFound")
    }))
})

describe("admission", () => {
  it.scoped("asked at submit, before queueing: a rejection is typed and nothing is queued", () =>
    Effect.gen(function*() {
      const recording = recordingPolicy((request) => request.agentId === "mallory")
      const supervisor = yield* make({ types: [echo], admission: [recording.policy] })
      const error = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 1 }, agentId: "mallory" }))
      assert.strictEqual(error._tag, "AdmissionRejected")
      assert.strictEqual(error._tag === "AdmissionRejected" ? error.retryAfterMillis : 0, 500)
      yield* supervisor.submit({ type: echo, payload: { n: 2 }, agentId: "alice", estimatedTokens: 100 })
      // No worker: the admitted task is queued, holding its grant.
      assert.deepStrictEqual(recording.events, ["grant-1:admit:task-000002"])
      assert.strictEqual((yield* supervisor.snapshot).queueDepth.echo, 1)
    }))

  it.scoped("a grant is committed once with the usage the handler reports, or released", () =>
    Effect.gen(function*() {
      const recording = recordingPolicy()
      const supervisor = yield* make({
        types: [echo],
        admission: [recording.policy],
        workers: [
          echoWorker(({ n }, context) =>
            n === 0
              ? Effect.fail("no usage")
              : Effect.as(
                Effect.zipRight(
                  context.reportUsage(TokenUsage.make({ inputTokens: n, outputTokens: 1 })),
                  context.reportUsage(TokenUsage.make({ inputTokens: n, outputTokens: 1 }))
                ),
                n
              )
          )
        ]
      })
      yield* (yield* supervisor.submit({ type: echo, payload: { n: 5 } })).await
      yield* Effect.flip((yield* supervisor.submit({ type: echo, payload: { n: 0 } })).await)
      assert.deepStrictEqual(recording.events, [
        "grant-1:admit:task-000001",
        "grant-1:commit:12",
        "grant-2:admit:task-000002",
        "grant-2:release"
      ])
    }))

  it.scoped("submitWait asks again after a rejection's retry-after", () =>
    Effect.gen(function*() {
      let open = false
      const recording = recordingPolicy(() => !open)
      const supervisor = yield* make({ types: [echo], admission: [recording.policy] })
      const waiting = yield* Effect.fork(supervisor.submitWait({ type: echo, payload: { n: 1 } }))
      yield* settle
      open = true
      yield* TestClock.adjust("499 millis")
      assert.isNull(waiting.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const handle = yield* Fiber.join(waiting)
      assert.strictEqual(yield* supervisor.status(handle.id), "queued")
    }))

  it.scoped("a policy that cannot decide refuses with AdmissionUnavailable; submitWait asks again after its retry-after", () =>
    Effect.gen(function*() {
      let down = true
      const asked: Array<string> = []
      const policy: AdmissionPolicy.AdmissionPolicyService = {
        admit: (request) =>
          Effect.suspend(() => {
            asked.push(request.taskId)
            return down
              ? Effect.fail(
                new AdmissionPolicy.AdmissionUnavailable({
                  policy: "flaky",
                  reason: "the store is unavailable",
                  retryAfterMillis: 2_000
                })
              )
              : Effect.succeed({ id: "grant" })
          }),
        commit: () => Effect.void,
        release: () => Effect.void
      }
      const supervisor = yield* make({ types: [echo], admission: [policy] })
      const refused = yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 1 } }))
      assert.strictEqual(refused._tag, "AdmissionUnavailable")
      assert.strictEqual((yield* supervisor.snapshot).queueDepth.echo, 0)
      const waiting = yield* Effect.fork(supervisor.submitWait({ type: echo, payload: { n: 2 } }))
      yield* settle
      assert.strictEqual(asked.length, 2)
      down = false
      yield* TestClock.adjust("1999 millis")
      assert.isNull(waiting.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const handle = yield* Fiber.join(waiting)
      assert.strictEqual(yield* supervisor.status(handle.id), "queued")
      assert.strictEqual(asked.length, 3)
    }))
})

describe("worker health", () => {
  it.scoped("a worker above 50% errors stops getting tasks and recovers after its cooldown (the article failed it for good)", () =>
    Effect.gen(function*() {
      let healthy = false
      const ranOn: Array<string> = []
      const supervisor = yield* make({
        types: [echo],
        circuit: { windowSize: 4, minimumCalls: 4, errorRateThreshold: 0.5, cooldown: "30 seconds" },
        workers: [
          Task.worker(echo, {
            name: "flaky",
            maxConcurrent: 1,
            handler: ({ n }) =>
              Effect.suspend(() => {
                ranOn.push(`flaky:${n}`)
                return healthy ? Effect.succeed(n) : Effect.fail("down")
              })
          })
        ]
      })
      const events: Array<Task.SupervisorEvent> = []
      yield* Effect.fork(Stream.runForEach(supervisor.events, (event) => Effect.sync(() => events.push(event))))
      yield* settle
      for (const n of [1, 2, 3]) yield* Effect.flip((yield* supervisor.submit({ type: echo, payload: { n } })).await)
      assert.strictEqual((yield* supervisor.snapshot).workers[0]!.circuit, "closed")
      yield* Effect.flip((yield* supervisor.submit({ type: echo, payload: { n: 4 } })).await)
      yield* settle
      assert.strictEqual((yield* supervisor.snapshot).workers[0]!.circuit, "open")
      assert.strictEqual(events[0]?._tag, "CircuitOpened")

      // While open, a task waits; a healthy worker added meanwhile takes it.
      const waiting = yield* supervisor.submit({ type: echo, payload: { n: 5 } })
      yield* settle
      assert.strictEqual(yield* supervisor.status(waiting.id), "queued")
      healthy = true
      yield* TestClock.adjust("29999 millis")
      yield* settle
      assert.strictEqual(yield* supervisor.status(waiting.id), "queued")
      yield* TestClock.adjust("1 millis")
      yield* settle
      // Half-open: the trial task runs, succeeds, and the circuit closes.
      assert.strictEqual(yield* waiting.await, 5)
      yield* settle
      const worker = (yield* supervisor.snapshot).workers[0]!
      assert.strictEqual(worker.circuit, "closed")
      assert.deepStrictEqual(events.map((event) => event._tag), ["CircuitOpened", "CircuitHalfOpen", "CircuitClosed"])
      assert.strictEqual(worker.errors, 4)
      assert.strictEqual(worker.completed, 1)
    }))
})

describe.each([
  { queueName: "the memory queue", queue: TaskQueue.layerMemory() },
  { queueName: "a queue through the contract only", queue: contractQueue }
])("slots over $queueName", ({ queue }) => {
  it.scoped(
    "a slot whose handler was interrupted (timeout, cancel) is replaced: the next tasks run, finalizers ran, limits hold",
    () =>
      Effect.gen(function*() {
        const grouped = Task.taskType("grouped", {
          payload: Schema.Struct({ n: Schema.Number, hang: Schema.Boolean }),
          result: Schema.Number
        })
        let running = 0
        let peak = 0
        const inGroup = new Map<string, number>()
        let groupPeak = 0
        const finalized: Array<number> = []
        const supervisor = yield* make(
          {
            types: [grouped],
            groupLimits: { default: 1 },
            workers: [
              Task.worker(grouped, {
                name: "w",
                maxConcurrent: 2,
                handler: ({ hang, n }, context) =>
                  Effect.acquireUseRelease(
                    Effect.sync(() => {
                      peak = Math.max(peak, ++running)
                      const group = context.groupKey!
                      inGroup.set(group, (inGroup.get(group) ?? 0) + 1)
                      groupPeak = Math.max(groupPeak, inGroup.get(group)!)
                    }),
                    () => hang ? Effect.never : Effect.as(Effect.repeatN(Effect.yieldNow(), 3), n),
                    () =>
                      Effect.sync(() => {
                        running--
                        inGroup.set(context.groupKey!, inGroup.get(context.groupKey!)! - 1)
                        finalized.push(n)
                      })
                  )
              })
            ]
          },
          Layer.empty,
          queue
        )
        const timesOut = yield* supervisor.submit({
          type: grouped,
          payload: { n: -1, hang: true },
          groupKey: "a",
          timeoutMillis: 1_000
        })
        const cancelled = yield* supervisor.submit({ type: grouped, payload: { n: -2, hang: true }, groupKey: "b" })
        yield* settle
        const handles = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i + 1),
          (n) => supervisor.submit({ type: grouped, payload: { n, hang: false }, groupKey: ["a", "b", "c"][n % 3]! })
        )
        yield* settle
        // Both slots hang: nothing else started.
        assert.deepStrictEqual(finalized, [])
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Effect.flip(timesOut.await))._tag, "TaskTimeout")
        yield* cancelled.cancel
        assert.strictEqual((yield* Effect.flip(cancelled.await))._tag, "TaskCancelled")
        // The interrupted handlers' finalizers ran, and every later task ran
        // to completion in the slots' new fibers.
        assert.deepStrictEqual(yield* Effect.forEach(handles, (handle) => handle.await), handles.map((_, i) => i + 1))
        assert.includeMembers(finalized, [-1, -2])
        assert.strictEqual(finalized.length, 14)
        assert.strictEqual(peak, 2)
        assert.strictEqual(groupPeak, 1)
        const snapshot = yield* supervisor.snapshot
        assert.strictEqual(snapshot.workers[0]!.inFlight, 0)
        assert.strictEqual(snapshot.workers[0]!.completed, 12)
        // The worker goes on taking tasks after its slots' fibers were replaced.
        const later = yield* Effect.forEach([20, 21, 22], (n) =>
          supervisor.submit({ type: grouped, payload: { n, hang: false }, groupKey: `later-${n}` }))
        assert.deepStrictEqual(
          yield* Effect.forEach(later, (handle) =>
            handle.await),
          [20, 21, 22]
        )
        assert.strictEqual(peak, 2)
      })
  )
})

describe("ids", () => {
  it.scoped("without an IdGenerator, task ids are ULIDs: unique and increasing, within a millisecond too", () =>
    Effect.gen(function*() {
      const supervisor = yield* Effect.map(
        Layer.build(Supervisor.layerMemory({ types: [echo], maxQueued: 2_000 })),
        (context) => Context.get(context, Supervisor.Supervisor)
      )
      const ids: Array<string> = []
      for (let n = 0; n < 1_000; n++) {
        ids.push((yield* supervisor.submit({ type: echo, payload: { n } })).id)
        if (n === 500) yield* TestClock.adjust("1 millis")
      }
      for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/)
      assert.strictEqual(new Set(ids).size, ids.length)
      assert.deepStrictEqual([...ids].sort(), ids)
      // The time part is the clock's.
      assert.notStrictEqual(ids[500]!.slice(0, 10), ids[501]!.slice(0, 10))
    }))
})
