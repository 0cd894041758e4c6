// The step runner: runs a workflow's steps not completed yet, in order,
// saving a checkpoint after each; retries a failed attempt per the step's
// schedule (recording the attempt first, so idempotency keys are never
// reused), enforces each attempt's timeout, and records a step that failed
// for good (the failed checkpoint, a dead letter through core's port).
import type * as DeadLetters from "@agentos/core/DeadLetters"
import * as Failure from "@agentos/core/Failure"
import type { WorkflowId } from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Checkpoint, LeaseState } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import { LeaseLost, StepFailed, StepTimeout, WorkflowCancelled } from "../Errors.js"
import type { StepContext, Workflow } from "../Workflow.js"
import type { RunError } from "../WorkflowEngine.js"
import * as Leases from "./leases.js"
import type { Held, Stop, Watch } from "./leases.js"
import * as Metrics from "./metrics.js"

/** What the step runner needs of the engine. */
export interface Runner {
  readonly store: CheckpointStoreService
  readonly deadLetters: Option.Option<DeadLetters.DeadLettersService>
  readonly heartbeatMillis: number
}

const releasing = { release: true } as const

/**
 * Runs the steps not completed yet. The steps run one after the other in a
 * single fiber (no fiber per step: forking costs more than a no-op step);
 * one watchdog fiber per run renews the lease every heartbeat and enforces
 * the running attempt's deadline, interrupting the loop (so the step's
 * finalizers run) on a timeout, a lost lease or a cancellation. This
 * supervisor then records the outcome, retries a timed-out attempt per the
 * step's schedule, and restarts the loop at the same step.
 */
export const supervise = <S, I, E, R>(
  runner: Runner,
  workflow: Workflow<S, I, E, R>,
  workflowId: WorkflowId,
  held: Held,
  initial: Checkpoint,
  initialState: S,
  initialLease: LeaseState
): Effect.Effect<S, RunError, R> =>
  Effect.gen(function*() {
    const { heartbeatMillis, store } = runner
    const lease = held.lease
    // Read synchronously on the hot path (two reads a step); tests'
    // TestClock answers it too.
    const clock = yield* Effect.clock
    // Built once per run, not once per step.
    const encodeState = Schema.encodeEither(workflow.state)
    // Step names as they appear in idempotency keys: a ":" (allowed in a
    // name, never a "%") is written "%3A", so a key splits one way only
    // (the attempt after the last ":", the step before it, the id the
    // rest), and workflow "a:b"'s step "c" never shares a key with
    // workflow "a"'s step "b:c".
    const keyNames = workflow.steps.map((step) => step.name.replaceAll(":", "%3A"))
    let checkpoint = initial
    let state = initialState
    let cancelRequested = initialLease.cancelRequested
    const watch: Watch = {
      current: undefined,
      stop: undefined,
      wakeAt: Number.POSITIVE_INFINITY,
      nextBeat: clock.unsafeCurrentTimeMillis() + heartbeatMillis
    }
    // A timed-out attempt whose retry decision (and backoff) is still due:
    // taken in the loop, so the watchdog keeps renewing the lease and
    // watching for a cancellation while the backoff sleeps.
    let timedOut: { readonly stepIndex: number; readonly error: StepTimeout } | undefined
    // Attempts made in this run per step index, and when the first began.
    const made = new Map<number, number>()
    const firstAttemptAt = new Map<number, number>()
    const drivers = new Map<number, Schedule.ScheduleDriver<unknown, unknown>>()

    const driverOf = (index: number) => {
      const existing = drivers.get(index)
      return existing !== undefined
        ? Effect.succeed(existing)
        : Effect.tap(Schedule.driver(workflow.steps[index]!.retry), (driver) => drivers.set(index, driver))
    }

    /**
     * Saves and adopts a checkpoint (and the state it encodes); never cut
     * in half by an interruption, which lands only after both are adopted.
     * The save that completes the workflow also releases the lease (one
     * write, one commit).
     */
    const save = (next: Checkpoint, nextState?: S) => {
      const completes = next.status === "completed"
      return store.save(lease, next, completes ? releasing : undefined).pipe(
        Effect.map((saved) => {
          checkpoint = next
          if (nextState !== undefined) state = nextState
          cancelRequested = saved.cancelRequested
          if (completes) held.released = true
          return saved
        }),
        Effect.uninterruptible
      )
    }

    const attemptsOf = (index: number) => (initial.attempts[workflow.steps[index]!.name] ?? 0) + (made.get(index) ?? 0)

    const failStep = (index: number, failure: Failure.FailureInfo) =>
      Effect.gen(function*() {
        const step = workflow.steps[index]!
        const at = yield* Clock.currentTimeMillis
        const attempts = attemptsOf(index)
        // The step stays not completed, so resuming runs it again.
        const saved = yield* save({
          ...checkpoint,
          status: "failed",
          attempts: { ...checkpoint.attempts, [step.name]: attempts },
          failure: { step: step.name, stepIndex: index, attempts, error: failure, at },
          updatedAt: at
        })
        // A cancellation asked of this run before it failed would be
        // cleared with the lease and lost (the failed workflow resumable,
        // its letter replayable): it is recorded, the failure kept on the
        // checkpoint, and no letter is sent for a cancelled workflow.
        const recordCancel = Effect.suspend(() =>
          save({ ...checkpoint, status: "cancelled", updatedAt: clock.unsafeCurrentTimeMillis() })
        )
        const cancelled = saved.cancelRequested
        if (cancelled) yield* recordCancel
        yield* Metric.increment(Metrics.workflowsFailed)
        if (Option.isSome(runner.deadLetters) && !cancelled) {
          const firstAt = firstAttemptAt.get(index) ?? at
          yield* runner.deadLetters.value.send({
            source: "checkpoint",
            taskType: workflow.name,
            workflow: { id: workflowId, name: workflow.name, version: workflow.version, step: step.name },
            attempt: checkpoint.run,
            attempts,
            payload: { workflowId, state: checkpoint.state, completedSteps: checkpoint.completedSteps },
            error: failure,
            firstAttemptAt: firstAt,
            lastAttemptAt: Math.max(at, firstAt)
          }).pipe(
            // Rejected or broken, the port never hides the StepFailed: the
            // failure stays on the checkpoint and is returned to the caller.
            Effect.catchAllCause((cause) =>
              Effect.logWarning("checkpoint: the dead letter was not stored; the failure stays on the checkpoint", {
                workflowId,
                run: checkpoint.run,
                cause: Cause.pretty(cause)
              })
            )
          )
          // A cancellation asked while the letter was being sent would be
          // cleared by the release that ends this run: read the lease once
          // more and record it (a replay of the letter then finds the
          // workflow cancelled). What remains is the one round trip
          // between this read and the release.
          const late = yield* Effect.either(store.renew(lease))
          if (late._tag === "Right" && late.right.cancelRequested) yield* recordCancel
        }
        return yield* new StepFailed({
          workflowId,
          workflow: workflow.name,
          step: step.name,
          stepIndex: index,
          attempts,
          error: failure,
          completedSteps: checkpoint.completedSteps
        })
      }).pipe(Effect.uninterruptible)

    /**
     * Retries per the step's schedule (sleeping its delay); false when it
     * is done. A retryable failure is recorded first (its attempt count,
     * one save on the failure path only): a runner that stops during the
     * backoff or the next attempt is followed by one that numbers its
     * attempts, and so its idempotency keys, after the failed one — a
     * key that saw a failure is never handed out again.
     */
    const retryAfter = (index: number, error: unknown) =>
      Effect.gen(function*() {
        const step = workflow.steps[index]!
        if (!step.isRetryable(error)) return false
        const driver = yield* driverOf(index)
        // The record is written while the backoff runs, so the delay is
        // measured from the failure, not from the end of the write.
        const [, next] = yield* Effect.all([
          save({
            ...checkpoint,
            attempts: { ...checkpoint.attempts, [step.name]: attemptsOf(index) },
            updatedAt: clock.unsafeCurrentTimeMillis()
          }),
          Effect.either(driver.next(error))
        ], { concurrency: 2 })
        if (next._tag === "Left") return false
        yield* Metric.increment(Metrics.stepRetries)
        return true
      })

    const watchdog = (loop: Fiber.RuntimeFiber<unknown, unknown>) =>
      Leases.watchdog(store, lease, heartbeatMillis, watch, loop)

    const loop = (self: Fiber.RuntimeFiber<unknown, unknown>) =>
      Effect.gen(function*() {
        let guard = yield* Effect.fork(watchdog(self))
        for (let index = 0; index < workflow.steps.length; index++) {
          const step = workflow.steps[index]!
          if (checkpoint.completedSteps.includes(step.name)) continue
          while (true) {
            if (cancelRequested) {
              watch.stop = { _tag: "Cancelled" }
              return yield* Effect.interrupt
            }
            if (timedOut !== undefined && timedOut.stepIndex === index) {
              const timeout = timedOut.error
              timedOut = undefined
              if (!(yield* retryAfter(index, timeout))) return yield* failStep(index, Failure.fromUnknown(timeout))
              continue
            }
            const now = clock.unsafeCurrentTimeMillis()
            const number = attemptsOf(index) + 1
            made.set(index, (made.get(index) ?? 0) + 1)
            if (!firstAttemptAt.has(index)) firstAttemptAt.set(index, now)
            const deadline = now + Duration.toMillis(step.timeout)
            watch.current = { stepIndex: index, deadline }
            if (deadline < watch.wakeAt) {
              // The watchdog sleeps past this attempt's deadline: wake a new one.
              yield* Fiber.interruptFork(guard)
              watch.wakeAt = deadline
              guard = yield* Effect.fork(watchdog(self))
            }
            const context: StepContext = {
              workflowId,
              workflow: workflow.name,
              step: step.name,
              stepIndex: index,
              attempt: number,
              run: checkpoint.run,
              idempotencyKey: `${workflowId}:${keyNames[index]}:${number}`
            }
            // A step that throws instead of failing is a failed step too (a
            // defect, as Effect.suspend would make it).
            let attempted: Effect.Effect<Partial<S>, E, R>
            try {
              attempted = step.run(state, context)
            } catch (defect) {
              attempted = Effect.die(defect)
            }
            const outcome = yield* Effect.exit(attempted)
            watch.current = undefined
            if (Exit.isFailure(outcome)) {
              const error = Cause.failureOption(outcome.cause)
              if (Option.isSome(error) && (yield* retryAfter(index, error.value))) continue
              return yield* failStep(index, Failure.fromCause(outcome.cause as Cause.Cause<unknown>))
            }
            const next = { ...state, ...outcome.value } as S
            const encoded = encodeState(next)
            const notJson = encoded._tag === "Right" ? Json.findInvalid(encoded.right) : undefined
            if (encoded._tag === "Left" || notJson !== undefined) {
              return yield* failStep(index, {
                tag: "InvalidStepOutput",
                message: encoded._tag === "Left"
                  ? `the state after step "${step.name}" does not encode: ${encoded.left.message}`
                  : `the state after step "${step.name}" is not JSON: ${notJson}`
              })
            }
            const at = clock.unsafeCurrentTimeMillis()
            const completedSteps = [...checkpoint.completedSteps, step.name]
            // The last step's save also completes the workflow (one write
            // fewer). The steps before this one are completed (the loop runs
            // them in order), so only those after it are looked up.
            let last = true
            for (let later = index + 1; later < workflow.steps.length; later++) {
              if (!completedSteps.includes(workflow.steps[later]!.name)) {
                last = false
                break
              }
            }
            yield* save({
              ...checkpoint,
              state: encoded.right as Json.JsonValue,
              completedSteps,
              attempts: { ...checkpoint.attempts, [step.name]: number },
              updatedAt: at,
              ...(last ? { status: "completed" as const, completedAt: at } : {})
            }, next)
            // Metric.increment without its two effects: the same update,
            // with the loop fiber's metric labels, read synchronously.
            Metrics.stepsCompleted.unsafeUpdate(1, self.getFiberRef(FiberRef.currentMetricLabels))
            break
          }
        }
        if (checkpoint.status !== "completed") {
          const finishedAt = yield* Clock.currentTimeMillis
          yield* save({ ...checkpoint, status: "completed", updatedAt: finishedAt, completedAt: finishedAt })
        }
        yield* Metric.increment(Metrics.workflowsCompleted)
        return state
      })

    while (true) {
      watch.stop = undefined
      // An attempt cut short by an interruption never cleared itself: a
      // stale deadline would time the restarted loop out at once.
      watch.current = undefined
      watch.wakeAt = Number.POSITIVE_INFINITY
      const fiber = yield* Effect.fork(
        Effect.withFiberRuntime<S, RunError, R>((self) => loop(self as Fiber.RuntimeFiber<unknown, unknown>))
      )
      const exit = yield* Fiber.await(fiber)
      if (Exit.isSuccess(exit)) return exit.value
      // Set by the watchdog or the loop before it interrupted the loop (the
      // cast undoes TypeScript's narrowing from the reset above).
      const reason = watch.stop as Stop | undefined
      if (reason === undefined || !Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
      // The interruption landed after the save that completed the workflow:
      // it is completed, and stays so (never overwritten as cancelled).
      if (checkpoint.status === "completed") {
        yield* Metric.increment(Metrics.workflowsCompleted)
        return state
      }
      switch (reason._tag) {
        case "LeaseLost":
          return yield* new LeaseLost({ workflowId, epoch: lease.epoch })
        case "Cancelled": {
          const at = yield* Clock.currentTimeMillis
          yield* save({ ...checkpoint, status: "cancelled", updatedAt: at })
          return yield* new WorkflowCancelled({ workflowId, workflow: workflow.name })
        }
        case "Timeout": {
          const step = workflow.steps[reason.stepIndex]!
          // The attempt finished just as its deadline passed: carry on.
          if (checkpoint.completedSteps.includes(step.name)) continue
          // The loop, restarted, decides on a retry (and sleeps its backoff)
          // under a new watchdog.
          timedOut = {
            stepIndex: reason.stepIndex,
            error: new StepTimeout({ step: step.name, timeoutMillis: Duration.toMillis(step.timeout) })
          }
          continue
        }
      }
    }
  })
