import type * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as DeadLetters from "@agentos/core/DeadLetters"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as Metrics from "../src/internal/metrics.js"
import * as Task from "../src/Task.js"
import { echo, echoWorker, gates, make, recordingPolicy, settle } from "./fixtures.js"

describe("shutdown", () => {
  it.effect("drain: closing the scope stops admission and runs every accepted task; grants are settled", () =>
    Effect.gen(function*() {
      const gate = gates()
      const recording = recordingPolicy()
      const scope = yield* Scope.make()
      const supervisor = yield* Scope.extend(
        make({
          types: [echo],
          admission: [recording.policy],
          workers: [echoWorker(({ n }) => Effect.as(gate.wait(n), n))]
        }),
        scope
      )
      const handles = yield* Effect.forEach([1, 2, 3], (n) => supervisor.submit({ type: echo, payload: { n } }))
      yield* settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* settle
      assert.strictEqual(
        (yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 4 } })))._tag,
        "SupervisorClosed"
      )
      assert.isNull(closing.unsafePoll())
      yield* Effect.forEach([1, 2, 3], gate.open)
      yield* Fiber.join(closing)
      assert.deepStrictEqual(yield* Effect.forEach(handles, (handle) => handle.await), [1, 2, 3])
      assert.deepStrictEqual([...recording.settled.values()], [1, 1, 1])
    }))

  it.effect("cancel: running and queued tasks end cancelled (finalizers run), every grant released", () =>
    Effect.gen(function*() {
      let finalized = 0
      const recording = recordingPolicy()
      const scope = yield* Scope.make()
      const supervisor = yield* Scope.extend(
        make({
          types: [echo],
          admission: [recording.policy],
          shutdown: { mode: "cancel" },
          workers: [
            Task.worker(echo, {
              name: "w",
              maxConcurrent: 2,
              handler: () => Effect.never.pipe(Effect.ensuring(Effect.sync(() => void finalized++)))
            })
          ]
        }),
        scope
      )
      const handles = yield* Effect.forEach([1, 2, 3, 4], (n) => supervisor.submit({ type: echo, payload: { n } }))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(finalized, 2)
      for (const handle of handles) {
        const error = yield* Effect.flip(handle.await)
        assert.deepStrictEqual([error._tag, error._tag === "TaskCancelled" ? error.reason : ""], [
          "TaskCancelled",
          "shutdown"
        ])
      }
      assert.deepStrictEqual(recording.events.filter((e) => e.endsWith("release")).length, 4)
      assert.deepStrictEqual([...recording.settled.values()], [1, 1, 1, 1])
    }))

  it.effect("drain gives up after its timeout and cancels what is left", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const supervisor = yield* Scope.extend(
        make({
          types: [echo],
          shutdown: { mode: "drain", timeout: "5 seconds" },
          workers: [echoWorker(() => Effect.never)]
        }),
        scope
      )
      const handle = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      yield* settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      for (let second = 1; second <= 4; second++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      yield* settle
      assert.isNull(closing.unsafePoll())
      assert.strictEqual(yield* supervisor.status(handle.id), "running")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
    }))
})

describe("observability", () => {
  it.scoped("the handler's span is a child of the submitter's span", () =>
    Effect.gen(function*() {
      let parent: string | undefined
      const supervisor = yield* make({
        types: [echo],
        workers: [
          echoWorker(({ n }) =>
            Effect.map(Effect.currentSpan, (span) => {
              parent = Option.getOrUndefined(span.parent)?.spanId
              return n
            })
          )
        ]
      })
      const submitter = yield* Effect.withSpan(
        Effect.flatMap(Effect.currentSpan, (span) =>
          Effect.map(supervisor.submit({ type: echo, payload: { n: 1 } }), (handle) => ({ span, handle }))),
        "caller"
      )
      yield* submitter.handle.await
      assert.strictEqual(parent, submitter.span.spanId)
    }))

  it.scoped("each attempt's span has the task's attributes and ends with the attempt's outcome", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const inner = yield* Effect.tracer
      const recording = Tracer.make({
        span: (...args) => {
          const span = inner.span(...args)
          spans.push(span)
          return span
        },
        context: (f) => f()
      })
      const supervisor = yield* Effect.withTracer(
        make({
          types: [echo],
          workers: [
            echoWorker(({ n }) =>
              Effect.flatMap(
                Effect.currentSpan,
                (span) => n < 0 ? Effect.fail(`no: ${span.name}`) : Effect.succeed(n)
              )
            )
          ]
        }),
        recording
      )
      const ok = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      const failing = yield* supervisor.submit({ type: echo, payload: { n: -1 } })
      assert.strictEqual(yield* ok.await, 1)
      const error = yield* Effect.flip(failing.await)
      // The handler ran inside its attempt's span.
      assert.strictEqual(error._tag === "TaskFailed" ? error.error.message : "", "no: Supervisor.task")
      const tasks = spans.filter((span) => span.name === "Supervisor.task")
      assert.deepStrictEqual(tasks.map((span) => span.attributes.get("task.id")), [ok.id, failing.id])
      assert.deepStrictEqual(tasks.map((span) => span.attributes.get("task.attempt")), [1, 1])
      assert.deepStrictEqual(tasks.map((span) => span.attributes.get("task.type")), ["echo", "echo"])
      const [first, second] = tasks.map((span) => span.status)
      assert.isTrue(first?._tag === "Ended" && Exit.isSuccess(first.exit))
      assert.isTrue(second?._tag === "Ended" && Exit.isFailure(second.exit))
    }))

  it.scoped("what runs after an attempt (grants, dead letters) runs outside the attempt's span", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const spanName = Effect.map(
        Effect.option(Effect.currentSpan),
        (span) => Option.getOrElse(Option.map(span, (s) => s.name), () => "none")
      )
      const policy: AdmissionPolicy.AdmissionPolicyService = {
        admit: () => Effect.succeed({ id: "grant" }),
        commit: () => Effect.flatMap(spanName, (name) => Effect.sync(() => seen.push(`commit:${name}`))),
        release: () => Effect.flatMap(spanName, (name) => Effect.sync(() => seen.push(`release:${name}`)))
      }
      const deadLetters: DeadLetters.DeadLettersService = {
        send: () =>
          Effect.flatMap(spanName, (name) => {
            seen.push(`send:${name}`)
            return Effect.succeed({ letterId: "letter" as never, duplicate: false })
          })
      }
      const supervisor = yield* make(
        {
          types: [echo],
          admission: [policy],
          workers: [
            echoWorker(({ n }) =>
              Effect.flatMap(spanName, (name) => {
                seen.push(`handler:${name}`)
                return n < 0 ? Effect.fail("no") : Effect.succeed(n)
              })
            )
          ]
        },
        Layer.succeed(DeadLetters.DeadLetters, deadLetters)
      )
      const ok = yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      const failing = yield* supervisor.submit({ type: echo, payload: { n: -1 } })
      yield* ok.await
      yield* Effect.flip(failing.await)
      assert.deepStrictEqual(seen, [
        "handler:Supervisor.task",
        "release:none",
        "handler:Supervisor.task",
        "send:none",
        "release:none"
      ])
    }))

  it.scoped("a queue full past queueSaturatedAfter is published once", () =>
    Effect.gen(function*() {
      const supervisor = yield* make({ types: [echo], maxQueued: 1, queueSaturatedAfter: "10 seconds" })
      const events: Array<Task.SupervisorEvent> = []
      yield* Effect.fork(Stream.runForEach(supervisor.events, (event) => Effect.sync(() => events.push(event))))
      yield* settle
      yield* supervisor.submit({ type: echo, payload: { n: 1 } })
      yield* Effect.flip(supervisor.submit({ type: echo, payload: { n: 2 } }))
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(events, [])
      yield* TestClock.adjust("1 seconds")
      yield* settle
      assert.deepStrictEqual(events, [{ _tag: "QueueSaturated", taskType: "echo", fullForMillis: 10_000 }])
    }))

  it.scoped("metrics: queue depth per type, rejections, tasks by outcome", () =>
    Effect.gen(function*() {
      const gate = gates()
      const metricType = Task.taskType("metered", { payload: echo.payload, result: echo.result })
      const supervisor = yield* make({
        types: [metricType],
        maxQueued: 1,
        workers: [
          Task.worker(metricType, { name: "w", maxConcurrent: 1, handler: ({ n }) => Effect.as(gate.wait(0), n) })
        ]
      })
      const depth = Metric.tagged(Metrics.queueDepth, "task_type", "metered")
      const rejected = Metric.tagged(Metrics.rejections, "reason", "backpressure")
      const before = (yield* Metric.value(rejected)).count
      const a = yield* supervisor.submit({ type: metricType, payload: { n: 1 } })
      const b = yield* supervisor.submit({ type: metricType, payload: { n: 2 } })
      yield* Effect.flip(supervisor.submit({ type: metricType, payload: { n: 3 } }))
      assert.strictEqual((yield* Metric.value(depth)).value, 1)
      assert.strictEqual((yield* Metric.value(rejected)).count - before, 1)
      yield* gate.open(0)
      yield* a.await
      yield* b.await
      assert.strictEqual((yield* Metric.value(depth)).value, 0)
      const snapshot = yield* supervisor.snapshot
      assert.strictEqual(snapshot.workers[0]!.completed, 2)
      assert.strictEqual(snapshot.load, 0)
    }))
})
