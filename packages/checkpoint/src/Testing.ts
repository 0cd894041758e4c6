/**
 * The published conformance suites of `@agentos/checkpoint`, for a store of
 * your own (a Redis or DynamoDB `CheckpointStore`): the store suite, the
 * engine suite (the engine run over your store), and the harness that builds
 * what they need from your layer. Run them under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/checkpoint/Testing"
 *
 * Conformance.conformance("my CheckpointStore", { extra: { mine: Testing.harness(myLayer) } }, Testing.suite)
 * ```
 *
 * Every case gets a fresh build of the layer: build a fresh, empty store.
 * Cases run under `TestClock` unless marked `live` (leases judged by real
 * time). `@agentos/testkit`, `@effect/vitest` and `vitest` are optional peer
 * dependencies: only this module needs them.
 *
 * @since 0.2.0
 */
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as IdGenerator from "@agentos/core/IdGenerator"
import type { WorkflowId } from "@agentos/core/Ids"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { Checkpoint, Lease, ListQuery, Page, SaveOptions, Status } from "./Checkpoint.js"
import { CheckpointStore } from "./CheckpointStore.js"
import { type InvalidOptions, StoreError } from "./Errors.js"
import * as Workflow from "./Workflow.js"
import * as WorkflowEngine from "./WorkflowEngine.js"

/**
 * What the engine suite needs: the engine, the store it runs over, and ids.
 *
 * @since 0.2.0
 * @category models
 */
export type Engine = WorkflowEngine.WorkflowEngine | CheckpointStore | IdGenerator.IdGenerator

/**
 * The engine (default options) over a store layer, with sequential ids: what
 * `engineSuite` and `suite` run against. Give it a layer that builds a fresh,
 * empty store.
 *
 * @since 0.2.0
 * @category harness
 */
export const harness = <E, R>(
  store: Layer.Layer<CheckpointStore, E, R>
): Layer.Layer<Engine, E | InvalidOptions, R> =>
  Layer.provideMerge(WorkflowEngine.layer(), Layer.merge(store, IdGenerator.layerSequential("runner")))

const id = (value: string) => value as WorkflowId

// Fixtures the suites share (exported for tests that build on them).

/**
 * A step's error that the five-step fixture treats as not retryable.
 *
 * @since 0.2.0
 * @category fixtures
 */
export class Boom extends Data.TaggedError("Boom")<{ readonly step: string }> {}

/** @since 0.2.0 @category fixtures */
export const State = Schema.Struct({ total: Schema.Number, trail: Schema.Array(Schema.String) })
/** @since 0.2.0 @category fixtures */
export type State = typeof State.Type

/** @since 0.2.0 @category fixtures */
export const names = ["s1", "s2", "s3", "s4", "s5"] as const

/** @since 0.2.0 @category fixtures */
export const initial: State = { total: 0, trail: [] }
/** The final state of an uninterrupted run. @since 0.2.0 @category fixtures */
export const expected: State = { total: 15, trail: [...names] }

/** What the steps see and do: a log of runs and the index that should fail (or hang). @since 0.2.0 @category fixtures */
export interface Probe {
  readonly runs: Array<string>
  failAt: number | null
  keys: Array<string>
}

/** @since 0.2.0 @category fixtures */
export const probe = (): Probe => ({ runs: [], failAt: null, keys: [] })

/** Five steps; step i adds i + 1 to `total` and appends its name to `trail`. @since 0.2.0 @category fixtures */
export const five = (p: Probe, name = "five") => {
  let workflow: Workflow.Workflow<State, typeof State.Encoded, Boom> = Workflow.make({ name, version: 1, state: State })
  names.forEach((stepName, index) => {
    workflow = workflow.step({
      name: stepName,
      nonRetryable: ["Boom"],
      run: (state, context) =>
        Effect.suspend(() => {
          p.runs.push(stepName)
          p.keys.push(context.idempotencyKey)
          if (p.failAt === index) return Effect.fail(new Boom({ step: stepName }))
          return Effect.succeed({ total: state.total + index + 1, trail: [...state.trail, stepName] })
        })
    })
  })
  return workflow
}

/** Lets real I/O (Postgres, files) make progress between TestClock moves. @since 0.2.0 @category fixtures */
export const realPause = (millis = 2) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** A running checkpoint of workflow `workflowId`, for store tests; `fields` override. @since 0.2.0 @category fixtures */
export const checkpoint = (
  workflowId: string,
  fields: Partial<Checkpoint> = {}
): Checkpoint => ({
  workflowId: workflowId as WorkflowId,
  name: "demo",
  version: 1,
  status: "running",
  state: { query: "héllo", nested: { list: [1, 2, 3] } },
  completedSteps: ["a"],
  attempts: { a: 1 },
  run: 1,
  createdAt: 1_000,
  updatedAt: 2_000,
  epoch: 0,
  ...fields
})

class Fatal extends Data.TaggedError("Fatal")<{ readonly step: string }> {}

const engine = WorkflowEngine.WorkflowEngine

/** Moves the TestClock in ticks, letting real I/O progress, until the fiber ends. */
const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, tick: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    for (let i = 0; i < 5_000; i++) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return done.value
      yield* realPause(1)
      yield* TestClock.adjust(tick)
    }
    return yield* Effect.dieMessage("the workflow did not finish")
  })

/** Waits (real time, TestClock untouched) until `condition` holds. */
const until = (condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2_000 && !condition(); i++) yield* realPause(1)
    if (!condition()) return yield* Effect.dieMessage("condition never held")
  })

/** Takes a workflow's lease as "intruder" as soon as it is free (polling, real time). */
const takeOver = (workflowId: string) =>
  Effect.flatMap(CheckpointStore, (store) =>
    store.acquire(workflowId as WorkflowId, "intruder", 30_000).pipe(
      Effect.retry({
        while: (error) => error._tag === "WorkflowBusy",
        schedule: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(500)))
      }),
      Effect.withClock(Clock.make())
    ))

/**
 * An engine (lease ttl 200 ms, heartbeat 50 ms) whose renewals fail with a
 * StoreError while `renewals.down`, as when the store is unreachable.
 */
const runnerWithFlakyRenew = (renewals: { down: boolean }) =>
  Effect.flatMap(
    CheckpointStore,
    (store) =>
      WorkflowEngine.make({ leaseTtl: "200 millis", heartbeat: "50 millis" }).pipe(
        Effect.provideService(CheckpointStore, {
          ...store,
          renew: (lease) =>
            renewals.down
              ? Effect.fail(new StoreError({ operation: "renew", cause: new Error("unreachable") }))
              : store.renew(lease)
        })
      )
  )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

/**
 * The conformance suite of the engine over a store: runs, failures and
 * resumes, retries and backoff, timeouts, exclusive runners and fencing,
 * heartbeats, cancellation, dead letters, migrations and pruning.
 *
 * @since 0.2.0
 * @category suites
 */
export const engineSuite: Conformance.Suite<Engine> = [
  Conformance.test(
    "runs every step in order, saves a completed checkpoint, and a second execute runs nothing",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      const wf = five(p)
      assert.deepStrictEqual(yield* workflows.execute(wf, "wf-1", initial), expected)
      assert.deepStrictEqual(p.runs, [...names])
      assert.deepStrictEqual(p.keys, names.map((name) => `wf-1:${name}:1`))
      const status = yield* workflows.status("wf-1")
      assert.strictEqual(status.status, "completed")
      assert.deepStrictEqual(status.completedSteps, [...names])
      assert.deepStrictEqual(status.state, expected)
      assert.deepStrictEqual(status.attempts, { s1: 1, s2: 1, s3: 1, s4: 1, s5: 1 })
      assert.strictEqual(status.version, 1)
      assert.strictEqual(status.run, 1)
      assert.isDefined(status.completedAt)
      p.runs.length = 0
      assert.deepStrictEqual(yield* workflows.execute(wf, "wf-1", { total: 99, trail: [] }), expected)
      assert.deepStrictEqual(p.runs, [])
    })
  ),
  Conformance.test(
    "the save that completes a workflow releases its lease (no separate release); a failed run releases it after",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      const calls = { releases: 0, releasingSaves: 0, saves: 0 }
      const runner = yield* WorkflowEngine.make().pipe(
        Effect.provideService(CheckpointStore, {
          ...store,
          release: (lease) => Effect.zipRight(Effect.sync(() => void calls.releases++), store.release(lease)),
          save: (lease, checkpoint, options) =>
            Effect.zipRight(
              Effect.sync(() => {
                calls.saves++
                if (options?.release === true) calls.releasingSaves++
              }),
              store.save(lease, checkpoint, options)
            )
        })
      )
      const p = probe()
      assert.deepStrictEqual(yield* runner.execute(five(p), "wf-release", initial), expected)
      // Five steps, the last one completing and releasing (the first
      // checkpoint was saved with the grant: acquireAndCreate).
      assert.deepStrictEqual(calls, { releases: 0, releasingSaves: 1, saves: 5 })
      // The lease is free at once: another holder gets it, with the next epoch.
      const next = yield* store.acquire("wf-release" as WorkflowId, "someone-else", 30_000)
      assert.strictEqual(next.epoch, Option.getOrThrow(yield* store.load("wf-release" as WorkflowId)).epoch + 1)
      yield* store.release(next)
      const failing = probe()
      failing.failAt = 2
      assert.strictEqual(
        (yield* Effect.flip(runner.execute(five(failing), "wf-release-failed", initial)))._tag,
        "StepFailed"
      )
      assert.deepStrictEqual(calls, { releases: 1, releasingSaves: 1, saves: 8 })
      yield* store.release(yield* store.acquire("wf-release-failed" as WorkflowId, "someone-else", 30_000))
    })
  ),
  Conformance.test(
    "a failure at each step index, then resume: the failed step runs again, the earlier ones do not",
    Effect.gen(function*() {
      const workflows = yield* engine
      for (let index = 0; index < names.length; index++) {
        const p = probe()
        const wf = five(p)
        const id = `wf-fail-${index}`
        p.failAt = index
        const error = yield* Effect.flip(workflows.execute(wf, id, initial))
        assert.strictEqual(error._tag, "StepFailed")
        if (error._tag !== "StepFailed") continue
        assert.strictEqual(error.step, names[index])
        assert.strictEqual(error.stepIndex, index)
        assert.strictEqual(error.attempts, 1)
        assert.strictEqual(error.error.tag, "Boom")
        assert.deepStrictEqual(error.completedSteps, names.slice(0, index))
        assert.deepStrictEqual(p.runs, names.slice(0, index + 1))
        const failed = yield* workflows.status(id)
        assert.strictEqual(failed.status, "failed")
        assert.strictEqual(failed.failure?.step, names[index])
        assert.strictEqual(failed.failure?.stepIndex, index)
        assert.deepStrictEqual(failed.completedSteps, names.slice(0, index))

        p.failAt = null
        p.runs.length = 0
        assert.deepStrictEqual(yield* workflows.resume(wf, id), expected)
        assert.deepStrictEqual(p.runs, names.slice(index))
        const done = yield* workflows.status(id)
        assert.strictEqual(done.status, "completed")
        assert.isUndefined(done.failure)
        assert.strictEqual(done.run, 2)
        // The failed step's second attempt has a new idempotency key.
        assert.strictEqual(p.keys[p.keys.length - (names.length - index)], `${id}:${names[index]}:2`)
      }
    }),
    { timeout: 60_000 }
  ),
  Conformance.test(
    "retries follow the schedule (exponential backoff) and each attempt has its own key",
    Effect.gen(function*() {
      const workflows = yield* engine
      const times: Array<number> = []
      const keys: Array<string> = []
      const wf = Workflow.make({ name: "flaky", state: Schema.Struct({ ok: Schema.Boolean }) }).step({
        name: "call",
        run: (_, context) =>
          Effect.gen(function*() {
            times.push(yield* TestClock.currentTimeMillis)
            keys.push(context.idempotencyKey)
            if (times.length < 3) return yield* new Boom({ step: "call" })
            return { ok: true }
          })
      })
      const fiber = yield* Effect.fork(workflows.execute(wf, "wf-flaky", { ok: false }))
      // Small ticks: the test clock moves 10 ms per millisecond of real time,
      // so a store write that takes real time (a file fsync under load) shifts
      // an attempt by tens of ms, not by the 200 ms the bounds below allow.
      const exit = yield* drive(fiber, "10 millis")
      assert.deepStrictEqual(exit, Exit.succeed({ ok: true }))
      assert.strictEqual(times.length, 3)
      const [first, second, third] = times as [number, number, number]
      assert.isTrue(second - first >= 1_000 && second - first < 1_200, `first delay ${second - first}`)
      assert.isTrue(third - second >= 2_000 && third - second < 2_200, `second delay ${third - second}`)
      assert.deepStrictEqual(keys, ["wf-flaky:call:1", "wf-flaky:call:2", "wf-flaky:call:3"])
      assert.deepStrictEqual((yield* workflows.status("wf-flaky")).attempts, { call: 3 })
    })
  ),
  Conformance.test(
    "a failed attempt is recorded before its retry: a runner that stops during the retry is followed by the next attempt number and key",
    Effect.gen(function*() {
      const workflows = yield* engine
      const keys: Array<string> = []
      const wf = Workflow.make({ name: "interrupted", state: State }).step({
        name: "call",
        retry: Schedule.spaced("10 millis"),
        run: (s, context) =>
          Effect.suspend(() => {
            keys.push(context.idempotencyKey)
            if (keys.length === 1) return Effect.fail(new Boom({ step: "call" }))
            // The retry hangs until its runner stops (as a process that dies would).
            if (keys.length === 2) return Effect.never
            return Effect.succeed({ trail: [...s.trail, "call"] })
          })
      })
      const fiber = yield* Effect.fork(workflows.execute(wf, "wf-retry-stop", initial))
      yield* until(() => keys.length === 2)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual((yield* workflows.status("wf-retry-stop")).attempts, { call: 1 })
      assert.deepStrictEqual((yield* workflows.resume(wf, "wf-retry-stop")).trail, ["call"])
      // The attempt cut short runs again with its own number; the failed one's key is never reused.
      assert.deepStrictEqual(keys, ["wf-retry-stop:call:1", "wf-retry-stop:call:2", "wf-retry-stop:call:2"])
      assert.deepStrictEqual((yield* workflows.status("wf-retry-stop")).attempts, { call: 2 })
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "idempotency keys of different workflow ids and steps never coincide, even with a \":\" in both",
    Effect.gen(function*() {
      const workflows = yield* engine
      const keys: Array<string> = []
      const oneStep = (name: string, step: string) =>
        Workflow.make({ name, state: State }).step({
          name: step,
          run: (s, context) => Effect.sync(() => (keys.push(context.idempotencyKey), { trail: [...s.trail, step] }))
        })
      yield* workflows.execute(oneStep("colon-a", "s2"), "a:s1", initial)
      yield* workflows.execute(oneStep("colon-b", "s1:s2"), "a", initial)
      assert.deepStrictEqual(keys, ["a:s1:s2:1", "a:s1%3As2:1"])
    })
  ),
  Conformance.test(
    "retries stop when exhausted, and a non-retryable error or a defect fails at once",
    Effect.gen(function*() {
      const workflows = yield* engine
      let calls = 0
      const always = Workflow.make({ name: "always", state: Schema.Struct({ n: Schema.Number }) }).step({
        name: "call",
        retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2))),
        run: () => Effect.suspend(() => (calls++, Effect.fail(new Boom({ step: "call" }))))
      })
      const exit = yield* drive(yield* Effect.fork(workflows.execute(always, "wf-always", { n: 0 })))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "StepFailed")
      assert.strictEqual(calls, 3)
      if (error._tag === "StepFailed") assert.strictEqual(error.attempts, 3)

      // nonRetryable as a predicate: a retryable failure is retried, a fatal one ends the step at once.
      const fatalities: Array<boolean> = [false, true, false]
      let judgedRuns = 0
      const judged = Workflow.make({ name: "judged", state: Schema.Struct({ n: Schema.Number }) }).step({
        name: "call",
        retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(5))),
        nonRetryable: (error) => error._tag === "Fatal",
        run: () =>
          Effect.suspend((): Effect.Effect<{ n: number }, Boom | Fatal> =>
            fatalities[judgedRuns++]
              ? Effect.fail(new Fatal({ step: "call" }))
              : Effect.fail(new Boom({ step: "call" }))
          )
      })
      const judgedExit = yield* drive(yield* Effect.fork(workflows.execute(judged, "wf-judged", { n: 0 })))
      const judgedError = failureOf(judgedExit)
      assert.strictEqual(judgedError._tag, "StepFailed")
      if (judgedError._tag === "StepFailed") {
        assert.strictEqual(judgedError.error.tag, "Fatal")
        assert.strictEqual(judgedError.attempts, 2)
      }
      assert.strictEqual(judgedRuns, 2)

      const p = probe()
      p.failAt = 1
      const nonRetryable = yield* Effect.flip(workflows.execute(five(p), "wf-nr", initial))
      assert.strictEqual(nonRetryable._tag, "StepFailed")
      assert.deepStrictEqual(p.runs, ["s1", "s2"])

      const defect = Workflow.make({ name: "defect", state: Schema.Struct({ n: Schema.Number }) }).step({
        name: "crash",
        run: () => Effect.die(new RangeError("bad index"))
      })
      const thrower = Workflow.make({ name: "thrower", state: Schema.Struct({ n: Schema.Number }) }).step({
        name: "throws",
        run: (): Effect.Effect<{ n: number }> => {
          throw new TypeError("not an effect")
        }
      })
      const thrown = yield* Effect.flip(workflows.execute(thrower, "wf-throws", { n: 0 }))
      assert.strictEqual(thrown._tag, "StepFailed")
      if (thrown._tag === "StepFailed") assert.strictEqual(thrown.error.tag, "TypeError")
      assert.strictEqual((yield* workflows.status("wf-throws")).status, "failed")
      const died = yield* Effect.flip(workflows.execute(defect, "wf-defect", { n: 0 }))
      assert.strictEqual(died._tag, "StepFailed")
      if (died._tag === "StepFailed") {
        assert.strictEqual(died.error.tag, "RangeError")
        assert.strictEqual(died.attempts, 1)
      }
    })
  ),
  Conformance.test(
    "a state that stops being JSON fails its step (the path named, nothing saved); steps completed are counted with the caller's metric labels",
    Effect.gen(function*() {
      const workflows = yield* engine
      const Nested = Schema.Struct({ n: Schema.Number, deep: Schema.Struct({ list: Schema.Array(Schema.Number) }) })
      const overflow = Workflow.make({ name: "overflow", state: Nested }).step({
        name: "fine",
        run: (state) => Effect.succeed({ n: state.n + 1 })
      }).step({
        name: "infinite",
        run: () => Effect.succeed({ deep: { list: [1, Number.POSITIVE_INFINITY] } })
      })
      const failed = yield* Effect.flip(workflows.execute(overflow, "wf-not-json", { n: 0, deep: { list: [] } }))
      assert.strictEqual(failed._tag, "StepFailed")
      if (failed._tag === "StepFailed") {
        assert.strictEqual(failed.step, "infinite")
        assert.strictEqual(failed.error.tag, "InvalidStepOutput")
        assert.include(failed.error.message, "$.deep.list[1]: Infinity is not a finite number")
      }
      const status = yield* workflows.status("wf-not-json")
      assert.deepStrictEqual(status.completedSteps, ["fine"])
      assert.deepStrictEqual(status.state, { n: 1, deep: { list: [] } })

      const badInput = yield* Effect.flip(
        workflows.execute(overflow, "wf-bad-input", { n: Number.NaN, deep: { list: [] } })
      )
      assert.strictEqual(badInput._tag, "InvalidInput")
      assert.include(badInput.message, "$.n: NaN is not a finite number")
      assert.strictEqual((yield* Effect.flip(workflows.status("wf-bad-input")))._tag, "WorkflowNotFound")

      // Valid JSON nested past the engine's quick walk is still valid; past
      // core's limit it is not, with core's message.
      const nest = (levels: number): unknown => {
        let value: unknown = 1
        for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { v: value } : [value]
        return value
      }
      const blob = Workflow.make({ name: "blob", state: Schema.Struct({ blob: Schema.Unknown }) }).step({
        name: "nest",
        run: (state) => Effect.succeed({ blob: { inner: state.blob } })
      })
      const deep = yield* workflows.execute(blob, "wf-deep", { blob: nest(40) })
      assert.deepStrictEqual(deep, { blob: { inner: nest(40) } })
      const tooDeep = yield* Effect.flip(workflows.execute(blob, "wf-too-deep", { blob: nest(255) }))
      assert.strictEqual(tooDeep._tag, "StepFailed")
      if (tooDeep._tag === "StepFailed") assert.include(tooDeep.error.message, "nested deeper than")

      const label = `case-${Math.random().toString(36).slice(2)}`
      const counted = WorkflowEngine.stepsCompleted.pipe(Metric.tagged("probe", label))
      const p = probe()
      assert.deepStrictEqual(
        yield* workflows.execute(five(p), "wf-counted", initial).pipe(Effect.tagMetrics("probe", label)),
        expected
      )
      assert.strictEqual((yield* Metric.value(counted)).count, 5)
    })
  ),
  Conformance.test(
    "a timeout interrupts the step and runs its finalizer; a retry after it can succeed",
    Effect.gen(function*() {
      const workflows = yield* engine
      let finalized = 0
      let attempts = 0
      const slow = (succeedOn: number, retries: number) =>
        Workflow.make({ name: "slow", state: Schema.Struct({ done: Schema.Boolean }) }).step({
          name: "hang",
          timeout: "1 second",
          retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(retries))),
          run: () =>
            Effect.suspend(() => {
              attempts++
              return attempts >= succeedOn ? Effect.succeed({ done: true }) : Effect.never.pipe(
                Effect.onInterrupt(() => Effect.sync(() => finalized++))
              )
            })
        })
      const exit = yield* drive(yield* Effect.fork(workflows.execute(slow(99, 0), "wf-slow", { done: false })))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "StepFailed")
      if (error._tag === "StepFailed") assert.strictEqual(error.error.tag, "StepTimeout")
      assert.strictEqual(attempts, 1)
      assert.strictEqual(finalized, 1)

      attempts = 0
      finalized = 0
      const retried = yield* drive(yield* Effect.fork(workflows.execute(slow(2, 1), "wf-slow-2", { done: false })))
      assert.deepStrictEqual(retried, Exit.succeed({ done: true }))
      assert.strictEqual(finalized, 1)
      assert.strictEqual(attempts, 2)
    })
  ),
  Conformance.test(
    "a checkpoint that does not decode, or belongs to another workflow, is a typed error and changes nothing",
    Effect.gen(function*() {
      const workflows = yield* engine
      const store = yield* CheckpointStore
      const lease = yield* store.acquire("wf-bad" as WorkflowId, "someone", 30_000)
      const bad = {
        workflowId: "wf-bad" as WorkflowId,
        name: "five",
        version: 1,
        status: "running" as const,
        state: { total: "not a number", trail: [] },
        completedSteps: ["s1"],
        attempts: { s1: 1 },
        run: 1,
        createdAt: 0,
        updatedAt: 0,
        epoch: 0
      }
      yield* store.save(lease, bad)
      yield* store.release(lease)
      const p = probe()
      const error = yield* Effect.flip(workflows.execute(five(p), "wf-bad", initial))
      assert.strictEqual(error._tag, "CheckpointInvalid")
      if (error._tag === "CheckpointInvalid") {
        assert.strictEqual(error.workflow, "five")
        assert.strictEqual(error.workflowId, "wf-bad")
        assert.include(error.message, "does not decode")
      }
      assert.deepStrictEqual(p.runs, [])
      assert.deepStrictEqual((yield* workflows.status("wf-bad")).state, bad.state)

      const other = yield* Effect.flip(workflows.execute(five(p, "another"), "wf-bad", initial))
      assert.strictEqual(other._tag, "CheckpointInvalid")
      if (other._tag === "CheckpointInvalid") assert.include(other.message, `belongs to workflow "five"`)
    })
  ),
  Conformance.test(
    "a checkpoint of another version needs a migration; with one, the workflow resumes",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      p.failAt = 2
      yield* Effect.flip(workflows.execute(five(p), "wf-v", initial))
      const V2 = Schema.Struct({ total: Schema.Number, trail: Schema.Array(Schema.String), label: Schema.String })
      const v2 = (migrations: Record<number, Workflow.Migration>) => {
        let wf: Workflow.Workflow<typeof V2.Type, typeof V2.Encoded> = Workflow.make({
          name: "five",
          version: 2,
          state: V2,
          migrations
        })
        for (const name of names) wf = wf.step({ name, run: (s) => Effect.succeed({ trail: [...s.trail, name] }) })
        return wf
      }
      // A migration that fails, or yields a state the schema refuses: CheckpointInvalid, nothing runs or changes.
      const before = yield* workflows.status("wf-v")
      p.runs.length = 0
      const failing = yield* Effect.flip(
        workflows.resume(v2({ 1: () => Effect.fail(new Boom({ step: "migrate" })) }), "wf-v")
      )
      assert.strictEqual(failing._tag, "CheckpointInvalid")
      if (failing._tag === "CheckpointInvalid") assert.include(failing.message, "migration from version 1 to 2 failed")
      const refused = yield* Effect.flip(workflows.resume(v2({ 1: (state) => Effect.succeed(state) }), "wf-v"))
      assert.strictEqual(refused._tag, "CheckpointInvalid")
      assert.deepStrictEqual(p.runs, [])
      const after = yield* workflows.status("wf-v")
      assert.deepStrictEqual({ ...after, updatedAt: 0 }, { ...before, updatedAt: 0 })
      const mismatch = yield* Effect.flip(workflows.resume(v2({}), "wf-v"))
      assert.strictEqual(mismatch._tag, "VersionMismatch")
      if (mismatch._tag === "VersionMismatch") {
        assert.strictEqual(mismatch.checkpointVersion, 1)
        assert.strictEqual(mismatch.workflowVersion, 2)
      }
      assert.strictEqual((yield* workflows.status("wf-v")).status, "failed")
      const migrated = yield* workflows.resume(
        v2({ 1: (state) => Effect.succeed({ ...(state as object), label: "migrated" }) }),
        "wf-v"
      )
      assert.deepStrictEqual(migrated, { total: 3, trail: [...names], label: "migrated" })
      assert.strictEqual((yield* workflows.status("wf-v")).version, 2)
    })
  ),
  Conformance.test(
    "bad input is a typed error and leaves no checkpoint or lease behind",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      assert.strictEqual((yield* Effect.flip(workflows.execute(five(p), " padded ", initial)))._tag, "InvalidInput")
      assert.strictEqual((yield* Effect.flip(workflows.execute(five(p), "", initial)))._tag, "InvalidInput")
      const Strict = Schema.Struct({ n: Schema.Number.pipe(Schema.int()) })
      const strict = Workflow.make({ name: "strict", state: Strict }).step({
        name: "one",
        run: (s) => Effect.succeed({ n: s.n + 1 })
      })
      assert.strictEqual(
        (yield* Effect.flip(workflows.execute(strict, "wf-strict-2", { n: 2.5 })))._tag,
        "InvalidInput"
      )
      const invalid = yield* Effect.flip(workflows.execute(strict, "wf-strict", { n: 1.5 }))
      assert.strictEqual(invalid._tag, "InvalidInput")
      assert.strictEqual((yield* Effect.flip(workflows.status("wf-strict")))._tag, "WorkflowNotFound")
      assert.deepStrictEqual(yield* workflows.execute(strict, "wf-strict", { n: 1 }), { n: 2 })
      assert.strictEqual((yield* Effect.flip(workflows.resume(strict, "wf-none")))._tag, "WorkflowNotFound")
      assert.strictEqual((yield* Effect.flip(workflows.retry(strict, "wf-none")))._tag, "WorkflowNotFound")
      assert.strictEqual((yield* Effect.flip(workflows.cancel("wf-none")))._tag, "WorkflowNotFound")
      assert.deepStrictEqual(p.runs, [])
      // No lease was ever granted for the unknown id: the first grant has epoch 1.
      const store = yield* CheckpointStore
      assert.strictEqual((yield* store.acquire("wf-none" as WorkflowId, "probe", 1_000)).epoch, 1)
      assert.strictEqual((yield* store.acquire("wf-strict-2" as WorkflowId, "probe", 1_000)).epoch, 1)
    })
  ),
  Conformance.test(
    "a workflow held by another runner fails with WorkflowBusy, or waits by option",
    Effect.gen(function*() {
      const workflows = yield* engine
      const store = yield* CheckpointStore
      const p = probe()
      const lease = yield* store.acquire("wf-held" as WorkflowId, "other-runner", 30_000)
      const busy = yield* Effect.flip(workflows.execute(five(p), "wf-held", initial))
      assert.strictEqual(busy._tag, "WorkflowBusy")
      if (busy._tag === "WorkflowBusy") assert.strictEqual(busy.holder, "other-runner")
      assert.deepStrictEqual(p.runs, [])
      const waiting = yield* Effect.fork(workflows.execute(five(p), "wf-held", initial, { onBusy: "wait" }))
      yield* TestClock.adjust("1 second")
      yield* realPause(20)
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)))
      yield* store.release(lease)
      assert.deepStrictEqual(yield* drive(waiting), Exit.succeed(expected))
      assert.deepStrictEqual(p.runs, [...names])

      // Waiting can be interrupted (the TestClock never moves: the wait never ends by itself).
      const other = yield* store.acquire("wf-held-2" as WorkflowId, "other-runner", 30_000)
      const stuck = yield* Effect.fork(workflows.execute(five(p), "wf-held-2", initial, { onBusy: "wait" }))
      yield* realPause(20)
      // Bounded by the real clock: an uninterruptible wait would block here for good.
      const interrupted = yield* Fiber.interrupt(stuck).pipe(
        Effect.timeout("5 seconds"),
        Effect.withClock(Clock.make())
      )
      assert.isTrue(Exit.isInterrupted(interrupted))
      yield* store.release(other)
      // A waitTimeout that is not a duration is bad input.
      const bad = yield* Effect.flip(
        workflows.execute(five(p), "wf-held-2", initial, { onBusy: "wait", waitTimeout: "later" as never })
      )
      assert.strictEqual(bad._tag, "InvalidInput")
    })
  ),
  Conformance.test(
    "two runners racing on one workflow id: each step's result is committed once, the loser gets WorkflowBusy",
    Effect.gen(function*() {
      // Both runners share one store that records every accepted save.
      const store = yield* CheckpointStore
      const commits: Array<{ readonly workflowId: string; readonly completed: ReadonlyArray<string> }> = []
      const recording = {
        ...store,
        save: (lease: Lease, checkpoint: Checkpoint, options?: SaveOptions) =>
          Effect.tap(
            store.save(lease, checkpoint, options),
            () =>
              Effect.sync(() => commits.push({ workflowId: lease.workflowId, completed: checkpoint.completedSteps }))
          )
      }
      const [first, second] = yield* Effect.all([WorkflowEngine.make(), WorkflowEngine.make()]).pipe(
        Effect.provideService(CheckpointStore, recording)
      )
      /** The steps whose result each accepted save of `workflowId` committed (completed steps it added). */
      const committed = (workflowId: string) =>
        commits.filter((c) => c.workflowId === workflowId).flatMap((c, i, all) =>
          c.completed.slice(i === 0 ? 0 : all[i - 1]!.completed.length)
        )
      const runs: Record<string, number> = {}
      let wf: Workflow.Workflow<State, typeof State.Encoded> = Workflow.make({ name: "race", state: State })
      for (const name of names) {
        wf = wf.step({
          name,
          run: (s) =>
            Effect.sync(() => void (runs[name] = (runs[name] ?? 0) + 1)).pipe(
              Effect.zipRight(Effect.sleep("20 millis")),
              Effect.as({ trail: [...s.trail, name] })
            )
        })
      }
      const results = yield* Effect.all(
        [first, second].map((runner) => Effect.either(runner.execute(wf, "wf-race", initial))),
        { concurrency: "unbounded" }
      )
      const winners = results.filter((r) => r._tag === "Right")
      const losers = results.filter((r) => r._tag === "Left")
      assert.strictEqual(winners.length, 1)
      assert.strictEqual(losers.length, 1)
      assert.strictEqual(losers[0]!._tag === "Left" ? losers[0]!.left._tag : "", "WorkflowBusy")
      assert.deepStrictEqual(runs, { s1: 1, s2: 1, s3: 1, s4: 1, s5: 1 })
      assert.deepStrictEqual(committed("wf-race"), [...names])
      // Waiting runners: both end with the same state, and still each step ran once.
      const both = yield* Effect.all(
        [first, second].map((runner) => runner.execute(wf, "wf-race-2", initial, { onBusy: "wait" })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(both[0], both[1])
      assert.deepStrictEqual(both[0]!.trail, [...names])
      assert.deepStrictEqual(runs, { s1: 2, s2: 2, s3: 2, s4: 2, s5: 2 })
      assert.deepStrictEqual(committed("wf-race-2"), [...names])
    }),
    { live: true }
  ),
  Conformance.test(
    "a runner whose lease was taken over cannot save: it stops with LeaseLost, the step's result is not committed",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      // The runner cannot reach the store to renew (a partition): its 200 ms
      // lease expires during the slow step.
      const runner = yield* runnerWithFlakyRenew({ down: true })
      let slowRuns = 0
      const wf = Workflow.make({ name: "fenced", state: State })
        .step({ name: "s1", run: (s) => Effect.succeed({ trail: [...s.trail, "s1"] }) })
        .step({
          name: "s2",
          run: (s) =>
            Effect.sync(() => slowRuns++).pipe(
              Effect.zipRight(slowRuns === 0 ? Effect.sleep("1500 millis") : Effect.void),
              Effect.as({ trail: [...s.trail, "s2"] })
            )
        })
      const fiber = yield* Effect.fork(runner.execute(wf, "wf-fenced", initial))
      // Once s2 sleeps, take the lease over as soon as it expires.
      yield* until(() => slowRuns === 1)
      const intruder = yield* takeOver("wf-fenced")
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(failureOf(exit)._tag, "LeaseLost")
      const after = yield* store.load("wf-fenced" as WorkflowId)
      assert.deepStrictEqual(Option.map(after, (c) => c.completedSteps), Option.some(["s1"]))
      yield* store.release(intruder)
      assert.deepStrictEqual((yield* runner.resume(wf, "wf-fenced")).trail, ["s1", "s2"])
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "a heartbeat that finds the lease taken interrupts the running step (its finalizer runs) and stops with LeaseLost",
    Effect.gen(function*() {
      // Renewals fail until the lease was taken over; the next one finds it lost.
      const renewals = { down: true }
      const runner = yield* runnerWithFlakyRenew(renewals)
      let interrupted = false
      let started = false
      const wf = Workflow.make({ name: "hung", state: State }).step({
        name: "s1",
        run: () =>
          Effect.sync(() => (started = true)).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))
          )
      })
      const fiber = yield* Effect.fork(runner.execute(wf, "wf-hung", initial))
      yield* until(() => started)
      yield* takeOver("wf-hung")
      renewals.down = false
      // The step never ends by itself: only the heartbeat's LeaseLost ends the run.
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(failureOf(exit)._tag, "LeaseLost")
      assert.isTrue(interrupted)
      const status = yield* runner.status("wf-hung")
      assert.strictEqual(status.status, "running")
      assert.deepStrictEqual(status.completedSteps, [])
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "the heartbeat keeps the lease while a long step runs",
    Effect.gen(function*() {
      const runner = yield* WorkflowEngine.make({ leaseTtl: "400 millis", heartbeat: "80 millis" })
      const other = yield* WorkflowEngine.make({ leaseTtl: "400 millis" })
      let started = false
      const wf = Workflow.make({ name: "long", state: State }).step({
        name: "s1",
        run: (s) =>
          Effect.sync(() => (started = true)).pipe(
            Effect.zipRight(Effect.sleep("1500 millis")),
            Effect.as({ trail: [...s.trail, "s1"] })
          )
      })
      const fiber = yield* Effect.fork(runner.execute(wf, "wf-long", initial))
      yield* until(() => started)
      // Twice the ttl into the step, the lease is still held thanks to the heartbeat.
      yield* realPause(800)
      assert.strictEqual((yield* Effect.flip(other.execute(wf, "wf-long", initial)))._tag, "WorkflowBusy")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { total: 0, trail: ["s1"] })
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "cancel: an idle workflow is cancelled at once; a running one stops at the next heartbeat; retry runs it again",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      p.failAt = 1
      yield* Effect.flip(workflows.execute(five(p), "wf-idle", initial))
      assert.strictEqual(yield* workflows.cancel("wf-idle"), "cancelled")
      assert.strictEqual((yield* workflows.status("wf-idle")).status, "cancelled")
      assert.strictEqual((yield* Effect.flip(workflows.execute(five(p), "wf-idle", initial)))._tag, "WorkflowCancelled")
      p.failAt = null
      assert.deepStrictEqual(yield* workflows.retry(five(p), "wf-idle"), expected)
      assert.strictEqual(yield* workflows.cancel("wf-idle"), "already-completed")
      assert.strictEqual((yield* Effect.flip(workflows.cancel("wf-unknown")))._tag, "WorkflowNotFound")

      let interrupted = false
      let started = false
      const wf = Workflow.make({ name: "sleepy", state: State })
        .step({ name: "s1", run: (s) => Effect.succeed({ trail: [...s.trail, "s1"] }) })
        .step({
          name: "s2",
          run: (s) =>
            Effect.suspend(() => {
              if (started) return Effect.succeed({ trail: [...s.trail, "s2"] })
              started = true
              return Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true))))
            })
        })
      const fiber = yield* Effect.fork(workflows.execute(wf, "wf-running", initial))
      yield* until(() => started)
      assert.strictEqual(yield* workflows.cancel("wf-running"), "requested")
      const exit = yield* drive(fiber, "1 second")
      assert.strictEqual(failureOf(exit)._tag, "WorkflowCancelled")
      assert.isTrue(interrupted)
      const status = yield* workflows.status("wf-running")
      assert.strictEqual(status.status, "cancelled")
      assert.deepStrictEqual(status.completedSteps, ["s1"])
      assert.deepStrictEqual((yield* workflows.retry(wf, "wf-running")).trail, ["s1", "s2"])
    })
  ),
  Conformance.test(
    "a cancellation requested of a runner whose step then fails is kept: the workflow is recorded cancelled, with its failure, and sends no letter",
    Effect.gen(function*() {
      const letters: Array<DeadLetters.DeadLetterInput> = []
      const workflows = yield* WorkflowEngine.make().pipe(
        Effect.provideService(DeadLetters.DeadLetters, {
          send: (letter) => Effect.sync(() => (letters.push(letter), { letterId: "letter" as never, duplicate: false }))
        })
      )
      const go = yield* Deferred.make<void>()
      let started = false
      const wf = Workflow.make({ name: "doomed", state: State })
        .step({ name: "s1", run: (s) => Effect.succeed({ trail: [...s.trail, "s1"] }) })
        .step({
          name: "s2",
          nonRetryable: ["Boom"],
          run: () =>
            Effect.sync(() => (started = true)).pipe(
              Effect.zipRight(Deferred.await(go)),
              Effect.zipRight(Effect.fail(new Boom({ step: "s2" })))
            )
        })
      const fiber = yield* Effect.fork(workflows.execute(wf, "wf-cancel-fail", initial))
      yield* until(() => started)
      assert.strictEqual(yield* workflows.cancel("wf-cancel-fail"), "requested")
      // The step fails before any heartbeat could see the request.
      yield* Deferred.succeed(go, undefined)
      const error = failureOf(yield* Fiber.await(fiber))
      assert.strictEqual(error._tag, "StepFailed")
      const status = yield* workflows.status("wf-cancel-fail")
      assert.strictEqual(status.status, "cancelled")
      assert.strictEqual(status.failure?.step, "s2")
      assert.deepStrictEqual(status.completedSteps, ["s1"])
      assert.deepStrictEqual(letters, [])
      assert.strictEqual((yield* Effect.flip(workflows.resume(wf, "wf-cancel-fail")))._tag, "WorkflowCancelled")
    })
  ),
  Conformance.test(
    "a cancellation requested while a failed workflow's dead letter is being sent is kept: the workflow ends cancelled",
    Effect.gen(function*() {
      const sending = yield* Deferred.make<void>()
      const sent = yield* Deferred.make<void>()
      const workflows = yield* WorkflowEngine.make().pipe(
        Effect.provideService(DeadLetters.DeadLetters, {
          send: () =>
            Deferred.succeed(sending, undefined).pipe(
              Effect.zipRight(Deferred.await(sent)),
              Effect.as({ letterId: "letter" as never, duplicate: false })
            )
        })
      )
      const p = probe()
      p.failAt = 1
      const fiber = yield* Effect.fork(workflows.execute(five(p), "wf-cancel-letter", initial))
      yield* Deferred.await(sending)
      assert.strictEqual(yield* workflows.cancel("wf-cancel-letter"), "requested")
      yield* Deferred.succeed(sent, undefined)
      const error = failureOf(yield* Fiber.await(fiber))
      assert.strictEqual(error._tag, "StepFailed")
      const status = yield* workflows.status("wf-cancel-letter")
      assert.strictEqual(status.status, "cancelled")
      assert.strictEqual(status.failure?.step, "s2")
      assert.strictEqual((yield* Effect.flip(workflows.resume(five(p), "wf-cancel-letter")))._tag, "WorkflowCancelled")
    })
  ),
  Conformance.test(
    "a cancellation requested of a runner that then died is honoured by the next runner: nothing runs",
    Effect.gen(function*() {
      const workflows = yield* engine
      const store = yield* CheckpointStore
      const dead = yield* store.acquire("wf-doomed" as WorkflowId, "dead-process", 800)
      yield* store.save(dead, {
        workflowId: "wf-doomed" as WorkflowId,
        name: "five",
        version: 1,
        status: "running",
        state: { total: 1, trail: ["s1"] },
        completedSteps: ["s1"],
        attempts: { s1: 1 },
        run: 1,
        createdAt: 0,
        updatedAt: 0,
        epoch: 0
      })
      assert.strictEqual(yield* workflows.cancel("wf-doomed"), "requested")
      // The dead runner never sees it; its lease expires; the next runner must.
      const p = probe()
      const error = yield* Effect.flip(
        workflows.resume(five(p), "wf-doomed", { onBusy: "wait", waitTimeout: "5 seconds" })
      )
      assert.strictEqual(error._tag, "WorkflowCancelled")
      assert.deepStrictEqual(p.runs, [])
      const status = yield* workflows.status("wf-doomed")
      assert.strictEqual(status.status, "cancelled")
      assert.deepStrictEqual(status.completedSteps, ["s1"])
      // Recorded, the request is spent: retry runs the rest.
      assert.deepStrictEqual(yield* workflows.retry(five(p), "wf-doomed"), expected)
      assert.deepStrictEqual(p.runs, ["s2", "s3", "s4", "s5"])
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "the lease is renewed while a timed-out step waits for its retry",
    Effect.gen(function*() {
      const runner = yield* WorkflowEngine.make({ leaseTtl: "300 millis", heartbeat: "60 millis" })
      const other = yield* WorkflowEngine.make({ leaseTtl: "300 millis" })
      let attempts = 0
      let finalized = 0
      const wf = Workflow.make({ name: "patient", state: State }).step({
        name: "s1",
        timeout: "100 millis",
        // The backoff after the timeout outlasts the lease's ttl several times.
        retry: Schedule.spaced("1500 millis"),
        run: (s) =>
          Effect.suspend(() => {
            attempts++
            return attempts > 1 ? Effect.succeed({ trail: [...s.trail, "s1"] }) : Effect.never.pipe(
              Effect.onInterrupt(() => Effect.sync(() => finalized++))
            )
          })
      })
      const fiber = yield* Effect.fork(runner.execute(wf, "wf-patient", initial))
      yield* until(() => finalized === 1)
      yield* realPause(700)
      assert.strictEqual(attempts, 1)
      const busy = yield* Effect.flip(other.execute(wf, "wf-patient", initial))
      assert.strictEqual(busy._tag, "WorkflowBusy")
      assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["s1"])
      assert.strictEqual(attempts, 2)
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "the lease is renewed while short attempts keep timing out and being retried (heartbeats are not postponed)",
    Effect.gen(function*() {
      const runner = yield* WorkflowEngine.make({ leaseTtl: "300 millis", heartbeat: "100 millis" })
      const store = yield* CheckpointStore
      let attempts = 0
      // Each attempt times out after 40 ms and is retried 10 ms later: a cycle
      // shorter than the heartbeat, for well past the lease's ttl.
      const wf = Workflow.make({ name: "stubborn", state: State }).step({
        name: "s1",
        timeout: "40 millis",
        retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(100))),
        run: (s) =>
          Effect.suspend(() => {
            attempts++
            return attempts > 16 ? Effect.succeed({ trail: [...s.trail, "s1"] }) : Effect.never
          })
      })
      const fiber = yield* Effect.fork(runner.execute(wf, "wf-stubborn", initial))
      yield* until(() => attempts >= 10)
      // Well past the ttl: the lease must still be held by the runner.
      const intruder = yield* Effect.either(store.acquire("wf-stubborn" as WorkflowId, "intruder", 30_000))
      if (intruder._tag === "Right") yield* store.release(intruder.right)
      assert.strictEqual(intruder._tag === "Left" ? intruder.left._tag : "granted", "WorkflowBusy")
      assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["s1"])
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "a cancellation that lands while the completing save runs leaves the workflow completed",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      // The save that completes the workflow asks for a cancellation and is
      // slow, so the heartbeat sees the request while the save runs.
      const runner = yield* WorkflowEngine.make({ leaseTtl: "1 second", heartbeat: "50 millis" }).pipe(
        Effect.provideService(CheckpointStore, {
          ...store,
          save: (lease, checkpoint, options) =>
            checkpoint.status !== "completed" ?
              store.save(lease, checkpoint, options) :
              store.requestCancel(lease.workflowId).pipe(
                Effect.zipRight(store.save(lease, checkpoint, options)),
                Effect.tap(() => realPause(300))
              )
        })
      )
      const p = probe()
      assert.deepStrictEqual(yield* runner.execute(five(p), "wf-late-cancel", initial), expected)
      const status = yield* store.load("wf-late-cancel" as WorkflowId)
      assert.deepStrictEqual(Option.map(status, (c) => c.status), Option.some("completed" as const))
    }),
    { live: true, timeout: 20_000 }
  ),
  Conformance.test(
    "list by status and name, and prune of old completed checkpoints",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      yield* workflows.execute(five(p), "wf-a", initial)
      yield* workflows.execute(five(p, "other"), "wf-b", initial)
      p.failAt = 0
      yield* Effect.flip(workflows.execute(five(p), "wf-c", initial))
      const completed = yield* workflows.list({ status: "completed" })
      assert.deepStrictEqual(completed.items.map((c) => c.workflowId), ["wf-a", "wf-b"])
      assert.deepStrictEqual((yield* workflows.list({ name: "five" })).items.map((c) => c.workflowId), ["wf-a", "wf-c"])
      const newestFirst = yield* workflows.list({ order: "desc", limit: 2 })
      assert.deepStrictEqual(newestFirst.items.map((c) => c.workflowId), ["wf-c", "wf-b"])
      assert.deepStrictEqual(
        (yield* workflows.list({ order: "desc", limit: 2, cursor: newestFirst.cursor! })).items.map((c) =>
          c.workflowId
        ),
        ["wf-a"]
      )
      assert.deepStrictEqual(
        (yield* workflows.list({ status: "completed", order: "desc" })).items.map((c) => c.workflowId),
        ["wf-b", "wf-a"]
      )
      assert.strictEqual((yield* Effect.flip(workflows.list({ order: "newest" as never })))._tag, "InvalidInput")
      assert.strictEqual(yield* workflows.prune({ olderThan: "1 hour" }), 0)
      // Bad input is a typed error and deletes nothing.
      assert.strictEqual((yield* Effect.flip(workflows.prune({ olderThan: -1 })))._tag, "InvalidInput")
      assert.strictEqual((yield* Effect.flip(workflows.prune({ olderThan: "-2 hours" })))._tag, "InvalidInput")
      assert.strictEqual((yield* Effect.flip(workflows.prune({ olderThan: "soon" as never })))._tag, "InvalidInput")
      assert.strictEqual(yield* workflows.prune({ olderThan: "1 hour" }), 0)
      yield* TestClock.adjust("2 hours")
      assert.strictEqual(yield* workflows.prune({ olderThan: "1 hour" }), 2)
      assert.deepStrictEqual((yield* workflows.list()).items.map((c) => c.workflowId), ["wf-c"])
    })
  ),
  Conformance.test(
    "resumeAll picks up workflows a dead runner left running, once their lease expires",
    Effect.gen(function*() {
      const workflows = yield* engine
      const store = yield* CheckpointStore
      const dead = yield* store.acquire("wf-orphan" as WorkflowId, "dead-process", 1_000)
      yield* store.save(dead, {
        workflowId: "wf-orphan" as WorkflowId,
        name: "five",
        version: 1,
        status: "running",
        state: { total: 3, trail: ["s1", "s2"] },
        completedSteps: ["s1", "s2"],
        attempts: { s1: 1, s2: 1 },
        run: 1,
        createdAt: 0,
        updatedAt: 0,
        epoch: 0
      })
      const mystery = yield* store.acquire("wf-mystery" as WorkflowId, "dead-process", 1_000)
      yield* store.save(mystery, {
        workflowId: "wf-mystery" as WorkflowId,
        name: "mystery",
        version: 1,
        status: "running",
        state: {},
        completedSteps: [],
        attempts: {},
        run: 1,
        createdAt: 0,
        updatedAt: 0,
        epoch: 0
      })
      const p = probe()
      const early = yield* workflows.resumeAll([five(p)])
      assert.deepStrictEqual(early.busy, ["wf-orphan"])
      assert.deepStrictEqual(p.runs, [])
      // Waiting for the dead runner's lease to expire.
      const report = yield* workflows.resumeAll([five(p)], { onBusy: "wait", waitTimeout: "5 seconds" })
      assert.deepStrictEqual(report, { completed: ["wf-orphan"], failed: [], busy: [], unknown: ["wf-mystery"] })
      assert.deepStrictEqual(p.runs, ["s3", "s4", "s5"])
      assert.deepStrictEqual((yield* workflows.status("wf-orphan")).state, expected)
    }),
    { live: true }
  ),
  Conformance.test(
    "with a DeadLetters port, a failed workflow becomes a letter, and replaying it resumes the workflow",
    Effect.gen(function*() {
      const letters: Array<DeadLetters.DeadLetterInput> = []
      const port: DeadLetters.DeadLettersService = {
        send: (letter) =>
          Schema.decodeUnknown(DeadLetters.DeadLetterInput)(letter).pipe(
            Effect.map((valid) => {
              letters.push(valid)
              return { letterId: `letter-${letters.length}` as never, duplicate: false }
            }),
            Effect.orDie
          )
      }
      const workflows = yield* WorkflowEngine.make().pipe(Effect.provideService(DeadLetters.DeadLetters, port))
      const p = probe()
      p.failAt = 2
      yield* Effect.flip(workflows.execute(five(p), "wf-dl", initial))
      yield* Effect.flip(workflows.resume(five(p), "wf-dl"))
      assert.strictEqual(letters.length, 2)
      const letter = letters[0]!
      assert.deepStrictEqual(letter.workflow, { id: "wf-dl" as WorkflowId, name: "five", version: 1, step: "s3" })
      assert.strictEqual(letter.source, "checkpoint")
      assert.strictEqual(letter.taskType, "five")
      assert.strictEqual(letter.attempt, 1)
      assert.strictEqual(letters[1]!.attempt, 2)
      assert.strictEqual(letter.error.tag, "Boom")
      assert.notStrictEqual(DeadLetters.dedupeKey(letters[0]!), DeadLetters.dedupeKey(letters[1]!))

      p.failAt = null
      p.runs.length = 0
      assert.deepStrictEqual(yield* workflows.resumeFromLetter([five(p)], letter), expected)
      assert.deepStrictEqual(p.runs, ["s3", "s4", "s5"])
      // Completed since: the letter's replay runs nothing and returns the final state.
      p.runs.length = 0
      assert.deepStrictEqual(yield* workflows.resumeFromLetter([five(p)], letters[1]!), expected)
      assert.deepStrictEqual(p.runs, [])
      const noRef = yield* Effect.flip(workflows.resumeFromLetter([five(p)], {}))
      assert.strictEqual(noRef._tag, "InvalidInput")
      const unknown = yield* Effect.flip(workflows.resumeFromLetter([five(p, "not-five")], letter))
      assert.strictEqual(unknown._tag, "InvalidInput")

      // A port that breaks (a defect) does not turn the failure into a defect.
      const broken = yield* WorkflowEngine.make().pipe(
        Effect.provideService(DeadLetters.DeadLetters, { send: () => Effect.die(new Error("port down")) })
      )
      p.failAt = 0
      const failed = yield* Effect.flip(broken.execute(five(p), "wf-dl-broken", initial))
      assert.strictEqual(failed._tag, "StepFailed")
      assert.strictEqual((yield* broken.status("wf-dl-broken")).status, "failed")
    })
  ),
  Conformance.test(
    "a workflow cancelled after its failure became a letter stays cancelled when the letter is replayed",
    Effect.gen(function*() {
      const letters: Array<DeadLetters.DeadLetterInput> = []
      const port: DeadLetters.DeadLettersService = {
        send: (letter) =>
          Effect.sync(() => {
            letters.push(letter)
            return { letterId: `letter-${letters.length}` as never, duplicate: false }
          })
      }
      const workflows = yield* WorkflowEngine.make().pipe(Effect.provideService(DeadLetters.DeadLetters, port))
      const p = probe()
      p.failAt = 2
      yield* Effect.flip(workflows.execute(five(p), "wf-dl-cancelled", initial))
      assert.strictEqual(letters.length, 1)
      assert.strictEqual(yield* workflows.cancel("wf-dl-cancelled"), "cancelled")
      p.failAt = null
      p.runs.length = 0
      const error = yield* Effect.flip(workflows.resumeFromLetter([five(p)], letters[0]!))
      assert.strictEqual(error._tag, "WorkflowCancelled")
      assert.deepStrictEqual(p.runs, [])
      assert.strictEqual((yield* workflows.status("wf-dl-cancelled")).status, "cancelled")
      // An operator who means it runs it again with retry.
      assert.deepStrictEqual(yield* workflows.retry(five(p), "wf-dl-cancelled"), expected)
    })
  ),
  Conformance.test(
    "without a DeadLetters port, the failure stays on the checkpoint only",
    Effect.gen(function*() {
      const workflows = yield* engine
      const p = probe()
      p.failAt = 4
      const error = yield* Effect.flip(workflows.execute(five(p), "wf-nodl", initial))
      assert.strictEqual(error._tag, "StepFailed")
      const status = yield* workflows.status("wf-nodl")
      assert.strictEqual(status.failure?.error.tag, "Boom")
      assert.strictEqual(status.failure?.attempts, 1)
    })
  )
]

/**
 * The conformance suite of a `CheckpointStore`: leases (exclusive, fenced by
 * epoch, expiring, renewed, released), cancellation requests, saves, the
 * first checkpoint with the grant, paging and pruning.
 *
 * @since 0.2.0
 * @category suites
 */
export const storeSuite: Conformance.Suite<CheckpointStore> = [
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
    "list pages through every checkpoint once, in order, ascending and descending, filters combined",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      // Ids in bytewise (UTF-8, code point) order, saved in a scrambled order.
      // "\uFFFD" < "\u{1F600}" by code point, the reverse of JavaScript's `<`.
      const sorted = ["wf-01", "wf-02", "wf-03", "wf-04", "wf-05", "wf-06", "wf-07", "wf-\uFFFD", "wf-\u{1F600}"]
      const statusOf = (i: number): Status => i % 3 === 0 ? "running" : i % 3 === 1 ? "completed" : "failed"
      const nameOf = (i: number) => (i < 5 ? "alpha" : "beta")
      for (const i of [4, 8, 0, 6, 2, 7, 1, 5, 3]) {
        const lease = yield* store.acquire(id(sorted[i]!), "runner", 30_000)
        yield* store.save(lease, checkpoint(sorted[i]!, { status: statusOf(i), name: nameOf(i) }))
      }
      const collect = (query: Omit<ListQuery, "cursor" | "limit">, limit: number) =>
        Effect.gen(function*() {
          const seen: Array<string> = []
          let cursor: string | undefined
          let pages = 0
          do {
            const page: Page = yield* store.list({ ...query, limit, ...(cursor === undefined ? {} : { cursor }) })
            assert.isTrue(page.items.length <= limit, "a page holds at most `limit` items")
            if (page.cursor !== undefined) {
              assert.strictEqual(page.cursor, page.items[page.items.length - 1]!.workflowId, "cursor: the last id")
            }
            for (const c of page.items) seen.push(c.workflowId)
            cursor = page.cursor
            pages++
            assert.isTrue(pages <= sorted.length + 1, "paging ends")
          } while (cursor !== undefined)
          return seen
        })
      const expect = (keep: (i: number) => boolean) => sorted.filter((_, i) => keep(i))
      for (const limit of [1, 2, 4, 9, 100]) {
        assert.deepStrictEqual(yield* collect({}, limit), sorted, `asc by default, limit ${limit}`)
        assert.deepStrictEqual(yield* collect({ order: "asc" }, limit), sorted, `asc, limit ${limit}`)
        assert.deepStrictEqual(yield* collect({ order: "desc" }, limit), [...sorted].reverse(), `desc, limit ${limit}`)
        for (const order of ["asc", "desc"] as const) {
          const inOrder = (ids: Array<string>) => order === "asc" ? ids : [...ids].reverse()
          assert.deepStrictEqual(
            yield* collect({ order, status: "running" }, limit),
            inOrder(expect((i) => statusOf(i) === "running")),
            `${order} by status, limit ${limit}`
          )
          assert.deepStrictEqual(
            yield* collect({ order, name: "beta" }, limit),
            inOrder(expect((i) => nameOf(i) === "beta")),
            `${order} by name, limit ${limit}`
          )
          assert.deepStrictEqual(
            yield* collect({ order, status: "completed", name: "alpha" }, limit),
            inOrder(expect((i) => statusOf(i) === "completed" && nameOf(i) === "alpha")),
            `${order} by status and name, limit ${limit}`
          )
        }
      }
      const newest = yield* store.list({ order: "desc", limit: 3 })
      assert.deepStrictEqual(newest.items.map((c) => c.workflowId), ["wf-\u{1F600}", "wf-\uFFFD", "wf-07"])
      // A cursor is an id, not a position: ids saved between pages never
      // shift the next page. One after the cursor in the chosen order is
      // listed when its turn comes; one before it is not.
      for (const [order, before, after] of [["desc", "wf-08", "wf-045"], ["asc", "wf-025", "wf-065"]] as const) {
        const first = yield* store.list({ order, limit: 4 })
        for (const workflowId of [before, after]) {
          const lease = yield* store.acquire(id(workflowId), "runner", 30_000)
          yield* store.save(lease, checkpoint(workflowId))
        }
        const rest: Array<string> = []
        let cursor = first.cursor
        while (cursor !== undefined) {
          const page: Page = yield* store.list({ order, limit: 4, cursor })
          for (const c of page.items) rest.push(c.workflowId)
          cursor = page.cursor
        }
        const all = (yield* store.list({ order })).items.map((c) => c.workflowId)
        assert.deepStrictEqual([...first.items.map((c) => c.workflowId), ...rest], all.filter((w) => w !== before))
        assert.isTrue(rest.includes(after) && !rest.includes(before), `${order}: keyset cursor`)
      }
    })
  ),
  Conformance.test(
    "list refuses an invalid order or cursor with InvalidInput",
    Effect.gen(function*() {
      const store = yield* CheckpointStore
      for (const workflowId of ["wf-1", "wf-2"]) {
        const lease = yield* store.acquire(id(workflowId), "runner", 30_000)
        yield* store.save(lease, checkpoint(workflowId))
      }
      const bad: ReadonlyArray<ListQuery> = [
        { order: "DESC" as never },
        { order: "newest" as never },
        { order: null as never },
        { order: "" as never },
        { order: "desc", cursor: 5 as never },
        { cursor: { id: "wf-1" } as never }
      ]
      for (const query of bad) {
        const error = yield* Effect.flip(store.list(query))
        assert.strictEqual(error._tag, "InvalidInput", JSON.stringify(query))
      }
      assert.deepStrictEqual((yield* store.list({ order: "desc" })).items.map((c) => c.workflowId), ["wf-2", "wf-1"])
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

/**
 * Both suites, over the harness: what a custom store must pass.
 *
 * @since 0.2.0
 * @category suites
 */
export const suite: Conformance.Suite<Engine> = [...storeSuite, ...engineSuite]
