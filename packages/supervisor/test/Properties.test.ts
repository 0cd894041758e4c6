// Under random submissions, completions, failures, timeouts and cancels: no
// worker exceeds maxConcurrent, no group exceeds its limit, no queue exceeds
// its bound, every accepted task ends in exactly one terminal state that
// matches its outcome, and every admission grant is settled exactly once —
// in one process, and on a shared queue (the leased protocol) over the
// memory queue, SQLite and Postgres (fewer runs: each gets a fresh database).
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"
import { contractQueue, gates, make, recordingPolicy, settle } from "./fixtures.js"

const job = Task.taskType("job", {
  payload: Schema.Struct({ n: Schema.Number, behaviour: Schema.Literal("ok", "fail", "hang") }),
  result: Schema.Number,
  timeout: "1 second"
})

const Op = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("submit" as const),
    behaviour: FastCheck.constantFrom("ok" as const, "fail" as const, "hang" as const),
    priority: FastCheck.integer({ min: 0, max: 2 }),
    group: FastCheck.option(FastCheck.constantFrom("a", "b", "c"), { nil: undefined }),
    retry: FastCheck.boolean(),
    wait: FastCheck.boolean()
  }),
  FastCheck.record({ _tag: FastCheck.constant("release" as const), pick: FastCheck.nat() }),
  FastCheck.record({ _tag: FastCheck.constant("cancel" as const), pick: FastCheck.nat() }),
  FastCheck.record({ _tag: FastCheck.constant("advance" as const), millis: FastCheck.integer({ min: 1, max: 1_500 }) })
)

const MAX = { fast: 2, slow: 3 } as const
const GROUP_LIMIT = 2
const MAX_QUEUED = 4

interface Variant {
  readonly queueName: string
  readonly queue: Layer.Layer<TaskQueue.TaskQueue, unknown>
  readonly numRuns: number
  readonly maxOps: number
  /** The leased protocol: the supervisor shares its queue. */
  readonly shared: boolean
  /** Its calls are real I/O (SQL). */
  readonly io?: boolean
}

const sqlQueue = (backend: Backends.SqlBackend): Layer.Layer<TaskQueue.TaskQueue, unknown> =>
  TaskQueue.layerSql({ notifications: false }).pipe(Layer.provide(backend.layer))

// In one process over the memory queue (which the supervisor calls directly)
// and over a queue seen only through the TaskQueue contract (as any other
// queue is); shared over the memory queue and each SQL backend.
const variants: ReadonlyArray<Variant> = [
  { queueName: "the memory queue", queue: TaskQueue.layerMemory(), numRuns: 60, maxOps: 40, shared: false },
  { queueName: "a queue through the contract only", queue: contractQueue, numRuns: 30, maxOps: 40, shared: false },
  { queueName: "a shared memory queue", queue: TaskQueue.layerMemory(), numRuns: 10, maxOps: 30, shared: true },
  ...Backends.sqlBackends().map((backend) => ({
    queueName: `a shared ${backend.name} queue`,
    queue: sqlQueue(backend),
    io: true,
    numRuns: backend.name === "sqlite" ? 6 : 3,
    maxOps: 20,
    shared: true
  }))
]

// A queue whose calls are counted while they run: a shared queue's
// statements are real I/O (SQLite, Postgres), so the supervisor's fibers are
// settled only once no call is in flight and the fibers' turns started none.
const tracked = (layer: Layer.Layer<TaskQueue.TaskQueue, unknown>) => {
  let inFlight = 0
  let idle = Deferred.unsafeMake<void>(FiberId.none)
  const track = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      inFlight++
      return Effect.ensuring(
        effect,
        Effect.sync(() => {
          if (--inFlight > 0) return
          Deferred.unsafeDone(idle, Exit.void)
          idle = Deferred.unsafeMake<void>(FiberId.none)
        })
      )
    })
  const queue = Layer.effect(
    TaskQueue.TaskQueue,
    Effect.map(TaskQueue.TaskQueue, (inner) => {
      const wrapped: Record<string, unknown> = {}
      for (const [name, value] of Object.entries(inner)) {
        wrapped[name] = name === "notifications"
          ? value
          : typeof value === "function"
          ? (...args: Array<unknown>) => track(value(...args))
          : track(value as Effect.Effect<unknown, unknown>)
      }
      return wrapped as unknown as TaskQueue.TaskQueueService
    })
  ).pipe(Layer.provide(layer))
  // The fibers' turns until no queue call is in flight and none starts (bounded).
  const settled = Effect.gen(function*() {
    for (let round = 0; round < 1_000; round++) {
      yield* settle
      if (inFlight > 0) {
        yield* Deferred.await(idle)
        continue
      }
      yield* settle
      if (inFlight === 0) return
    }
    return yield* Effect.die(new Error("the queue never went idle"))
  })
  return { queue, settled }
}

describe.each(variants)("invariants over $queueName", ({ io, maxOps, numRuns, queue: queueLayer, shared }) => {
  it.effect.prop(
    "hold under random operations",
    [FastCheck.array(Op, { minLength: 1, maxLength: maxOps })],
    ([ops]) =>
      Effect.gen(function*() {
        const { queue, settled } = io === true ? tracked(queueLayer) : { queue: queueLayer, settled: settle }
        const settleAll = settled
        const gate = gates()
        const recording = recordingPolicy()
        const inFlight = new Map<string, number>()
        const peak = new Map<string, number>()
        const enter = (key: string) => {
          inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
          peak.set(key, Math.max(peak.get(key) ?? 0, inFlight.get(key)!))
        }
        const leave = (key: string) => void inFlight.set(key, inFlight.get(key)! - 1)
        const handler = (payload: typeof job.payload.Type, context: Task.TaskContext) => {
          const keys = [
            `worker:${context.worker}`,
            ...(context.groupKey === undefined ? [] : [`group:${context.groupKey}`])
          ]
          const body = payload.behaviour === "hang"
            ? Effect.never
            : Effect.zipRight(
              gate.wait(payload.n),
              payload.behaviour === "ok" ? Effect.succeed(payload.n) : Effect.fail("no")
            )
          return Effect.acquireUseRelease(
            Effect.sync(() => keys.forEach(enter)),
            () => body,
            () => Effect.sync(() => keys.forEach(leave))
          )
        }
        // The queue outlives the supervisor: its stored ends are read after the shutdown.
        const queueScope = yield* Scope.make()
        const built = yield* Scope.extend(Layer.build(Layer.orDie(queue)), queueScope)
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(
          make(
            {
              types: [job],
              maxQueued: MAX_QUEUED,
              groupLimits: { default: GROUP_LIMIT },
              admission: [recording.policy],
              shutdown: { mode: "cancel" },
              // Leases far longer than a run (judged by the database's real clock on SQL).
              ...(shared ? { shared: { lease: "5 minutes", pollInterval: "100 millis", maxDeliveries: 3 } } : {}),
              workers: [
                Task.worker(job, { name: "fast", maxConcurrent: MAX.fast, handler }),
                Task.worker(job, { name: "slow", maxConcurrent: MAX.slow, handler })
              ]
            },
            Layer.empty,
            Layer.succeedContext(built)
          ),
          scope
        )
        const accepted: Array<Task.TaskHandle<number>> = []
        let n = 0
        for (const op of ops) {
          switch (op._tag) {
            case "submit": {
              const request = {
                type: job,
                payload: { n: ++n, behaviour: op.behaviour },
                priority: op.priority,
                ...(op.group === undefined ? {} : { groupKey: op.group }),
                ...(op.retry ? { retry: { maxAttempts: 2, backoffMillis: 100 } } : {})
              }
              const submitted = yield* Effect.either(
                op.wait ? supervisor.submitWait(request, { timeout: "200 millis" }) : supervisor.submit(request)
              ).pipe(
                Effect.fork,
                Effect.tap(() => settleAll),
                Effect.flatMap((fiber) => {
                  // submitWait may be waiting: let the clock free it or time it out.
                  return Effect.zipRight(TestClock.adjust("200 millis"), fiber.await)
                })
              )
              if (Exit.isSuccess(submitted) && submitted.value._tag === "Right") accepted.push(submitted.value.right)
              break
            }
            case "release": {
              if (n > 0) yield* gate.open((op.pick % n) + 1)
              break
            }
            case "cancel": {
              if (accepted.length > 0) yield* accepted[op.pick % accepted.length]!.cancel
              break
            }
            case "advance": {
              yield* TestClock.adjust(op.millis)
              break
            }
          }
          yield* settleAll
          const snapshot = yield* supervisor.snapshot
          assert.isAtMost(snapshot.queueDepth.job!, MAX_QUEUED)
          for (const worker of snapshot.workers) {
            assert.isAtMost(worker.inFlight, worker.maxConcurrent)
          }
        }
        if (shared) {
          // A shared queue keeps what is queued or retrying at shutdown for
          // other processes: the run is let finish first (every gate open,
          // time enough for timeouts and retries), so that every task ends.
          for (let i = 1; i <= n; i++) yield* gate.open(i)
          for (let round = 0; round < 100; round++) {
            yield* TestClock.adjust("1500 millis")
            yield* settleAll
            // Every task a grant was given for, accepted or not: a submit interrupted (a submitWait's
            // timeout) after its task was queued leaves a task no handle follows, which runs and ends too.
            const admitted = recording.events.flatMap((event) => {
              const [, step, id] = event.split(":")
              return step === "admit" ? [id!] : []
            })
            const open = yield* Effect.filter(admitted, (id) =>
              Effect.map(
                Context.get(built, TaskQueue.TaskQueue).status(id),
                (stored) => Option.isSome(stored) && !Task.isTerminal(stored.value.status)
              ))
            const waiting = yield* Effect.filter(accepted, (handle) => Effect.map(handle.poll, Option.isNone))
            if (open.length === 0 && waiting.length === 0) break
            // On SQL a retry's delay is judged by the database's clock, which
            // TestClock does not move: polled again (bounded) once it can have
            // passed. Nothing else here waits for real time.
            if (io === true) yield* TestServices.provideLive(Effect.sleep("10 millis"))
          }
        }
        yield* Scope.close(scope, Exit.void)

        assert.isAtMost(peak.get("worker:fast") ?? 0, MAX.fast)
        assert.isAtMost(peak.get("worker:slow") ?? 0, MAX.slow)
        for (const group of ["a", "b", "c"]) assert.isAtMost(peak.get(`group:${group}`) ?? 0, GROUP_LIMIT)
        for (const handle of accepted) {
          const exit = Option.getOrThrow(yield* handle.poll)
          const status = yield* supervisor.status(handle.id)
          if (Exit.isSuccess(exit)) assert.strictEqual(status, "completed")
          else {
            const error = yield* Effect.flip(exit)
            const expected = error._tag === "TaskCancelled" ? "cancelled" : "failed"
            assert.strictEqual(status, expected)
          }
        }
        // Every grant given was settled exactly once (refused submits included).
        assert.strictEqual(recording.settled.size, recording.granted())
        for (const count of recording.settled.values()) assert.strictEqual(count, 1)
        yield* Scope.close(queueScope, Exit.void)
      }),
    // A generous bound: a loaded machine (other work on its two cores) runs these several times slower.
    { fastCheck: { numRuns }, timeout: 180_000 }
  )
})
