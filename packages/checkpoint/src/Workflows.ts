/**
 * The engine that runs workflows with checkpoints: `execute` starts a
 * workflow or resumes it at the first step not completed (a step that failed
 * runs again — it is never skipped), saving a checkpoint atomically after
 * every completed step, before the next one starts.
 *
 * One runner at a time per workflow id, across processes: the runner holds a
 * lease in the store (renewed by a heartbeat while a step runs); every save
 * carries the lease's epoch and is refused once a newer epoch was granted, so
 * a runner that lost its lease stops with `LeaseLost`. Each step's result is
 * committed exactly once; its side effects run at least once (again only when
 * a runner dies mid-step) — pass `StepContext.idempotencyKey` to them.
 *
 * When core's `DeadLetters` port is in the layer's context, a failed
 * workflow is also sent as a dead letter carrying its workflow reference;
 * `resumeFromLetter` resumes it from a replay handler.
 *
 * @since 0.1.0
 */
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as Failure from "@agentos/core/Failure"
import * as IdGenerator from "@agentos/core/IdGenerator"
import { WorkflowId } from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import {
  type Checkpoint,
  CheckpointStore,
  layerMemory as storeLayerMemory,
  type Lease,
  type LeaseLost,
  LeaseLost as LeaseLostError,
  type LeaseState,
  type ListQuery,
  type Page,
  type Status,
  type StoreError,
  type WorkflowBusy
} from "./CheckpointStore.js"
import * as StepJson from "./internal/json.js"
import {
  CheckpointInvalid,
  InvalidInput,
  type StepContext,
  StepFailed,
  StepTimeout as StepTimeoutError,
  VersionMismatch,
  type Workflow,
  WorkflowCancelled,
  WorkflowNotFound
} from "./Workflow.js"

/**
 * Everything `execute`, `resume` and `retry` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError =
  | StepFailed
  | WorkflowBusy
  | LeaseLost
  | WorkflowCancelled
  | WorkflowNotFound
  | CheckpointInvalid
  | VersionMismatch
  | InvalidInput
  | StoreError

/**
 * Per-call options. `onBusy: "wait"` waits (polling every 250 ms, at most
 * `waitTimeout`, default 5 minutes) for the current runner's lease to end
 * instead of failing with `WorkflowBusy`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly onBusy?: "fail" | "wait"
  readonly waitTimeout?: Duration.DurationInput
}

/**
 * What `cancel` did: cancelled a workflow nobody was running; asked the
 * running runner to stop (it saves the cancellation at its next heartbeat
 * or step boundary, or with the failure when its step fails for good: the
 * workflow is then cancelled, its failure kept, no dead letter sent); or
 * found the workflow already completed.
 *
 * @since 0.1.0
 * @category models
 */
export type CancelOutcome = "cancelled" | "requested" | "already-completed"

/**
 * What `resumeAll` did with the workflows it found running.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResumeReport {
  readonly completed: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly workflowId: string; readonly error: string }>
  /** Still held by a live runner (or a dead one whose lease has not expired yet). */
  readonly busy: ReadonlyArray<string>
  /** No definition was given for their workflow name. */
  readonly unknown: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WorkflowsService {
  /**
   * Runs the workflow `workflowId`: from its first step with `input` when it
   * has no checkpoint, else from the first step not completed (a failed
   * workflow runs its failed step again). A completed workflow returns its
   * final state without running anything; a cancelled one fails with
   * `WorkflowCancelled`.
   */
  readonly execute: <S, I, E, R>(
    workflow: Workflow<S, I, E, R>,
    workflowId: string,
    input: S,
    options?: RunOptions
  ) => Effect.Effect<S, RunError, R>
  /** Like `execute` for a workflow that has a checkpoint (`WorkflowNotFound` otherwise). */
  readonly resume: <S, I, E, R>(
    workflow: Workflow<S, I, E, R>,
    workflowId: string,
    options?: RunOptions
  ) => Effect.Effect<S, RunError, R>
  /** Like `resume`, and also runs a cancelled workflow again. */
  readonly retry: <S, I, E, R>(
    workflow: Workflow<S, I, E, R>,
    workflowId: string,
    options?: RunOptions
  ) => Effect.Effect<S, RunError, R>
  /** The workflow's checkpoint. */
  readonly status: (workflowId: string) => Effect.Effect<Checkpoint, WorkflowNotFound | InvalidInput | StoreError>
  /** Checkpoints by status and name, a page at a time. */
  readonly list: (query?: ListQuery) => Effect.Effect<Page, StoreError>
  /** Cancels the workflow (see `CancelOutcome`). */
  readonly cancel: (
    workflowId: string
  ) => Effect.Effect<CancelOutcome, WorkflowNotFound | InvalidInput | StoreError>
  /**
   * Deletes completed and cancelled checkpoints (or those of `statuses`)
   * last updated more than `olderThan` ago. Completed checkpoints are kept
   * until pruned: they are the record of what ran.
   */
  readonly prune: (options: {
    readonly olderThan: Duration.DurationInput
    readonly statuses?: ReadonlyArray<Status>
  }) => Effect.Effect<number, InvalidInput | StoreError>
  /**
   * Opt-in, at start-up: resumes every workflow left `running` whose
   * definition is given (at most `concurrency` at a time, default 4).
   * Workflows whose lease is still held are reported `busy`.
   */
  readonly resumeAll: <R>(
    workflows: ReadonlyArray<Workflow<any, any, any, R>>,
    options?: RunOptions & { readonly concurrency?: number }
  ) => Effect.Effect<ResumeReport, StoreError, R>
  /**
   * For a dead-letter replay handler: resumes the workflow a letter refers
   * to (`letter.workflow`), with the matching definition from `workflows` —
   * its failed step runs again. A workflow cancelled since the letter was
   * sent stays cancelled (`WorkflowCancelled`: the cancel wins over an older
   * letter); one completed since returns its final state and runs nothing.
   */
  readonly resumeFromLetter: <R>(
    workflows: ReadonlyArray<Workflow<any, any, any, R>>,
    letter: { readonly workflow?: DeadLetters.WorkflowRef | undefined },
    options?: RunOptions
  ) => Effect.Effect<unknown, RunError, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Workflows extends Context.Tag("@agentos/checkpoint/Workflows")<Workflows, WorkflowsService>() {}

/**
 * Options of the engine. `leaseTtl` (default 30 s) is how long a lease
 * lasts without renewal; the watchdog renews it every `heartbeat` (default
 * a third of the ttl, and it must be shorter than the ttl) for as long as the
 * runner holds it, through steps and retry backoffs alike (a save does not
 * renew it). `holder` names this runner in leases (default: a new id from
 * `IdGenerator`). `make` and `layer` throw a `TypeError` on invalid options
 * (a programming error, like an invalid `Workflow` definition).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly leaseTtl?: Duration.DurationInput
  readonly heartbeat?: Duration.DurationInput
  readonly holder?: string
}

/** Steps completed and saved. @since 0.1.0 */
export const stepsCompleted = Metric.counter("agentos_checkpoint_steps_completed", { incremental: true })
/** Step attempts that failed and were retried. @since 0.1.0 */
export const stepRetries = Metric.counter("agentos_checkpoint_step_retries", { incremental: true })
/** Workflows that completed. @since 0.1.0 */
export const workflowsCompleted = Metric.counter("agentos_checkpoint_workflows_completed", { incremental: true })
/** Workflows that failed (a step failed for good). @since 0.1.0 */
export const workflowsFailed = Metric.counter("agentos_checkpoint_workflows_failed", { incremental: true })

type Mode = "execute" | "resume" | "retry"

const releasing = { release: true } as const

const decodeWorkflowId = Schema.decodeUnknownEither(WorkflowId)

const decodeId = (raw: string): Effect.Effect<WorkflowId, InvalidInput> => {
  const decoded = decodeWorkflowId(raw)
  return decoded._tag === "Right" ? Effect.succeed(decoded.right) : Effect.fail(
    new InvalidInput({
      message: `"${raw}" is not a valid workflow id (1–256 characters, no leading or trailing white space)`
    })
  )
}

/**
 * A granted lease; the first checkpoint when it was saved with the grant
 * (`acquireAndCreate`); and whether a save already released the lease (the
 * save that completes a workflow does), so the end of the run does not
 * release it again.
 */
interface Held {
  readonly lease: Lease
  readonly created?: { readonly checkpoint: Checkpoint; readonly cancelRequested: boolean }
  released: boolean
}

const stripFailure = (checkpoint: Checkpoint): Checkpoint => {
  const { failure: _failure, ...rest } = checkpoint
  return rest
}

/**
 * Builds the engine over a `CheckpointStore`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<WorkflowsService, never, CheckpointStore | IdGenerator.IdGenerator> => {
  const { heartbeatMillis, ttlMillis } = checkOptions(options)
  return Effect.gen(function*() {
    const store = yield* CheckpointStore
    const deadLetters = yield* Effect.serviceOption(DeadLetters.DeadLetters)
    const holder = options.holder ?? (yield* Effect.flatMap(IdGenerator.IdGenerator, (ids) => ids.next))

    // A release that fails leaves the lease to expire after its ttl: logged, not fatal.
    const release = (lease: Lease) =>
      store.release(lease).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("checkpoint: the lease was not released; it expires after its ttl", {
            workflowId: lease.workflowId,
            message: error.message
          })
        )
      )

    /**
     * Runs `use` under the workflow's lease, released afterwards. With
     * `onBusy: "wait"` it polls for a busy lease; the wait stays
     * interruptible (only each single grant is not).
     */
    const withLease = <A, E, R>(
      grant: Effect.Effect<Held, WorkflowBusy | StoreError>,
      runOptions: RunOptions | undefined,
      use: (held: Held) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | WorkflowBusy | StoreError | InvalidInput, R> => {
      const once = Effect.acquireUseRelease(
        grant,
        use,
        (held) => held.released ? Effect.void : release(held.lease)
      )
      if (runOptions?.onBusy !== "wait") return once
      const limit = Duration.decodeUnknown(runOptions.waitTimeout ?? "5 minutes")
      if (Option.isNone(limit)) {
        return Effect.fail(
          new InvalidInput({
            message: `waitTimeout is not a duration: ${JSON.stringify(String(runOptions.waitTimeout))}`
          })
        )
      }
      return once.pipe(
        Effect.retry({
          while: (error) => Predicate.isTagged(error, "WorkflowBusy"),
          schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo(limit.value))
        })
      )
    }

    const run = <S, I, E, R>(
      workflow: Workflow<S, I, E, R>,
      rawId: string,
      mode: Mode,
      input: Option.Option<S>,
      runOptions: RunOptions | undefined
    ): Effect.Effect<S, RunError, R> =>
      Effect.gen(function*() {
        const workflowId = yield* decodeId(rawId)
        // Bad input changes nothing: encode the input before taking the lease.
        let encodedInput = Option.none<unknown>()
        if (Option.isSome(input)) {
          const encoded = Schema.encodeEither(workflow.state)(input.value)
          if (encoded._tag === "Left") {
            return yield* new InvalidInput({
              message: `the input of workflow "${workflow.name}" is invalid: ${encoded.left.message}`
            })
          }
          const invalid = StepJson.findInvalid(encoded.right)
          if (invalid !== undefined) {
            return yield* new InvalidInput({
              message: `the input of workflow "${workflow.name}" does not encode to JSON: ${invalid}`
            })
          }
          encodedInput = Option.some(encoded.right)
        }
        // resume and retry of an unknown id fail before taking (and leaving) a lease.
        if (mode !== "execute" && Option.isNone(yield* store.load(workflowId))) {
          return yield* new WorkflowNotFound({ workflowId })
        }
        let grant = Effect.map(
          store.acquire(workflowId, holder, ttlMillis),
          (lease): Held => ({ lease, released: false })
        )
        // A new workflow's first checkpoint is saved with the grant (one
        // statement on Postgres) when its input decodes synchronously; the
        // store saves it only if the workflow has no checkpoint yet.
        let decodedInput = Option.none<S>()
        if (mode === "execute" && Option.isSome(encodedInput)) {
          const decoded = Schema.decodeUnknownEither(workflow.state)(encodedInput.value)
          if (decoded._tag === "Right") {
            decodedInput = Option.some(decoded.right)
            const state = encodedInput.value as Json.JsonValue
            grant = Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const initial: Checkpoint = {
                workflowId,
                name: workflow.name,
                version: workflow.version,
                status: "running",
                state,
                completedSteps: [],
                attempts: {},
                run: 1,
                createdAt: now,
                updatedAt: now,
                epoch: 0
              }
              return Effect.map(
                store.acquireAndCreate(workflowId, holder, ttlMillis, initial),
                ({ cancelRequested, created, lease }): Held => ({
                  lease,
                  released: false,
                  ...(created ? { created: { checkpoint: { ...initial, epoch: lease.epoch }, cancelRequested } } : {})
                })
              )
            })
          }
        }
        return yield* withLease(
          grant,
          runOptions,
          (held) => runLeased(workflow, workflowId, held, mode, encodedInput, decodedInput)
        )
      }).pipe(Effect.withSpan("Workflows.run", {
        attributes: { workflow: workflow.name, workflowId: rawId, mode },
        captureStackTrace: false
      }))

    const runLeased = <S, I, E, R>(
      workflow: Workflow<S, I, E, R>,
      workflowId: WorkflowId,
      held: Held,
      mode: Mode,
      encodedInput: Option.Option<unknown>,
      decodedInput: Option.Option<S>
    ): Effect.Effect<S, RunError, R> =>
      Effect.gen(function*() {
        const lease = held.lease
        if (held.created !== undefined && Option.isSome(decodedInput)) {
          const { cancelRequested, checkpoint } = held.created
          return yield* supervise(workflow, workflowId, held, checkpoint, decodedInput.value, { cancelRequested })
        }
        const existing = yield* store.load(workflowId)
        const now = yield* Clock.currentTimeMillis
        const invalid = (message: string) => new CheckpointInvalid({ workflowId, workflow: workflow.name, message })
        const decodeState = (encoded: unknown) =>
          Schema.decodeUnknown(workflow.state)(encoded).pipe(
            Effect.mapError((error) =>
              invalid(`the checkpoint's state does not decode with the schema of "${workflow.name}": ${error.message}`)
            )
          )
        let checkpoint: Checkpoint
        let state: S
        if (Option.isNone(existing)) {
          if (mode !== "execute" || Option.isNone(encodedInput)) return yield* new WorkflowNotFound({ workflowId })
          state = yield* decodeState(encodedInput.value)
          checkpoint = {
            workflowId,
            name: workflow.name,
            version: workflow.version,
            status: "running",
            state: encodedInput.value as Json.JsonValue,
            completedSteps: [],
            attempts: {},
            run: 1,
            createdAt: now,
            updatedAt: now,
            epoch: lease.epoch
          }
        } else {
          const found = existing.value
          if (found.name !== workflow.name) {
            return yield* invalid(`the checkpoint belongs to workflow "${found.name}", not "${workflow.name}"`)
          }
          let encoded: unknown = found.state
          if (found.version !== workflow.version) {
            const migration = workflow.migrations[found.version]
            if (migration === undefined) {
              return yield* new VersionMismatch({
                workflowId,
                workflow: workflow.name,
                checkpointVersion: found.version,
                workflowVersion: workflow.version
              })
            }
            encoded = yield* migration(found.state).pipe(
              Effect.mapError((error) =>
                invalid(
                  `the migration from version ${found.version} to ${workflow.version} failed: ${
                    Failure.fromUnknown(error).message
                  }`
                )
              )
            )
            const notJson = Json.findInvalid(encoded)
            if (notJson !== undefined) return yield* invalid(`the migrated state is not JSON: ${notJson}`)
          }
          state = yield* decodeState(encoded)
          if (found.status === "completed") return state
          if (found.status === "cancelled" && mode !== "retry") {
            return yield* new WorkflowCancelled({ workflowId, workflow: workflow.name })
          }
          checkpoint = {
            ...stripFailure(found),
            version: workflow.version,
            state: encoded as Json.JsonValue,
            status: "running",
            run: found.run + 1,
            updatedAt: now
          }
        }
        const leaseState = yield* store.save(lease, checkpoint)
        return yield* supervise(workflow, workflowId, held, checkpoint, state, leaseState)
      })

    // Why the watchdog (or the loop itself) stopped the step loop.
    type Stop =
      | { readonly _tag: "Timeout"; readonly stepIndex: number }
      | { readonly _tag: "LeaseLost" }
      | { readonly _tag: "Cancelled" }

    /**
     * Runs the steps not completed yet. The steps run one after the other in a
     * single fiber (no fiber per step: forking costs more than a no-op step);
     * one watchdog fiber per run renews the lease every heartbeat and
     * enforces the running attempt's deadline, interrupting the loop (so the
     * step's finalizers run) on a timeout, a lost lease or a cancellation.
     * This supervisor then records the outcome, retries a timed-out attempt
     * per the step's schedule, and restarts the loop at the same step.
     */
    const supervise = <S, I, E, R>(
      workflow: Workflow<S, I, E, R>,
      workflowId: WorkflowId,
      held: Held,
      initial: Checkpoint,
      initialState: S,
      initialLease: LeaseState
    ): Effect.Effect<S, RunError, R> =>
      Effect.gen(function*() {
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
        let current: { readonly stepIndex: number; readonly deadline: number } | undefined
        let stop: Stop | undefined
        let wakeAt = Number.POSITIVE_INFINITY
        // When the next renewal is due. Kept across watchdogs: a watchdog is
        // replaced whenever an attempt's deadline comes before its wake-up
        // and the loop restarts after every timeout, and a new watchdog that
        // started the count again would postpone the renewal for as long as
        // such attempts come faster than the heartbeat (the lease would
        // expire under a live runner).
        let nextBeat = clock.unsafeCurrentTimeMillis() + heartbeatMillis
        // A timed-out attempt whose retry decision (and backoff) is still due:
        // taken in the loop, so the watchdog keeps renewing the lease and
        // watching for a cancellation while the backoff sleeps.
        let timedOut: { readonly stepIndex: number; readonly error: StepTimeoutError } | undefined
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

        const attemptsOf = (index: number) =>
          (initial.attempts[workflow.steps[index]!.name] ?? 0) + (made.get(index) ?? 0)

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
            yield* Metric.increment(workflowsFailed)
            if (Option.isSome(deadLetters) && !cancelled) {
              const firstAt = firstAttemptAt.get(index) ?? at
              yield* deadLetters.value.send({
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
            yield* Metric.increment(stepRetries)
            return true
          })

        const watchdog = (loop: Fiber.RuntimeFiber<unknown, unknown>) =>
          Effect.gen(function*() {
            while (true) {
              const now = yield* Clock.currentTimeMillis
              wakeAt = Math.min(nextBeat, current?.deadline ?? Number.POSITIVE_INFINITY)
              yield* Effect.sleep(Duration.millis(Math.max(0, wakeAt - now)))
              const at = yield* Clock.currentTimeMillis
              const attempt = current
              if (attempt !== undefined && at >= attempt.deadline) {
                stop = { _tag: "Timeout", stepIndex: attempt.stepIndex }
                return yield* Fiber.interruptFork(loop)
              }
              if (at >= nextBeat) {
                const renewed = yield* Effect.either(store.renew(lease))
                // Only once the renewal answered: one cut short (this watchdog
                // replaced) is made at once by the next watchdog.
                nextBeat = at + heartbeatMillis
                // A store that fails for a moment is not a lost lease: the
                // next renewal or the next save decides.
                if (renewed._tag === "Left" && renewed.left._tag === "LeaseLost") {
                  stop = { _tag: "LeaseLost" }
                  return yield* Fiber.interruptFork(loop)
                }
                if (renewed._tag === "Right" && renewed.right.cancelRequested) {
                  stop = { _tag: "Cancelled" }
                  return yield* Fiber.interruptFork(loop)
                }
              }
            }
          })

        const loop = (self: Fiber.RuntimeFiber<unknown, unknown>) =>
          Effect.gen(function*() {
            let guard = yield* Effect.fork(watchdog(self))
            for (let index = 0; index < workflow.steps.length; index++) {
              const step = workflow.steps[index]!
              if (checkpoint.completedSteps.includes(step.name)) continue
              while (true) {
                if (cancelRequested) {
                  stop = { _tag: "Cancelled" }
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
                current = { stepIndex: index, deadline: now + Duration.toMillis(step.timeout) }
                if (current.deadline < wakeAt) {
                  // The watchdog sleeps past this attempt's deadline: wake a new one.
                  yield* Fiber.interruptFork(guard)
                  wakeAt = current.deadline
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
                current = undefined
                if (Exit.isFailure(outcome)) {
                  const error = Cause.failureOption(outcome.cause)
                  if (Option.isSome(error) && (yield* retryAfter(index, error.value))) continue
                  return yield* failStep(index, Failure.fromCause(outcome.cause as Cause.Cause<unknown>))
                }
                const next = { ...state, ...outcome.value } as S
                const encoded = encodeState(next)
                const notJson = encoded._tag === "Right" ? StepJson.findInvalid(encoded.right) : undefined
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
                stepsCompleted.unsafeUpdate(1, self.getFiberRef(FiberRef.currentMetricLabels))
                break
              }
            }
            if (checkpoint.status !== "completed") {
              const finishedAt = yield* Clock.currentTimeMillis
              yield* save({ ...checkpoint, status: "completed", updatedAt: finishedAt, completedAt: finishedAt })
            }
            yield* Metric.increment(workflowsCompleted)
            return state
          })

        while (true) {
          stop = undefined
          // An attempt cut short by an interruption never cleared itself: a
          // stale deadline would time the restarted loop out at once.
          current = undefined
          wakeAt = Number.POSITIVE_INFINITY
          const fiber = yield* Effect.fork(
            Effect.withFiberRuntime<S, RunError, R>((self) => loop(self as Fiber.RuntimeFiber<unknown, unknown>))
          )
          const exit = yield* Fiber.await(fiber)
          if (Exit.isSuccess(exit)) return exit.value
          // Set by the watchdog or the loop (TypeScript cannot see the closures' writes).
          const reason = stop as Stop | undefined
          if (reason === undefined || !Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
          // The interruption landed after the save that completed the workflow:
          // it is completed, and stays so (never overwritten as cancelled).
          if (checkpoint.status === "completed") {
            yield* Metric.increment(workflowsCompleted)
            return state
          }
          switch (reason._tag) {
            case "LeaseLost":
              return yield* new LeaseLostError({ workflowId, epoch: lease.epoch })
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
                error: new StepTimeoutError({ step: step.name, timeoutMillis: Duration.toMillis(step.timeout) })
              }
              continue
            }
          }
        }
      })

    const service: WorkflowsService = {
      execute: (workflow, workflowId, input, runOptions) =>
        run(workflow, workflowId, "execute", Option.some(input), runOptions),
      resume: (workflow, workflowId, runOptions) => run(workflow, workflowId, "resume", Option.none(), runOptions),
      retry: (workflow, workflowId, runOptions) => run(workflow, workflowId, "retry", Option.none(), runOptions),
      status: (rawId) =>
        Effect.gen(function*() {
          const workflowId = yield* decodeId(rawId)
          const found = yield* store.load(workflowId)
          if (Option.isNone(found)) return yield* new WorkflowNotFound({ workflowId })
          return found.value
        }),
      list: (query) => store.list(query),
      cancel: (rawId) =>
        Effect.gen(function*() {
          const workflowId = yield* decodeId(rawId)
          // An unknown id fails before taking (and leaving) a lease.
          if (Option.isNone(yield* store.load(workflowId))) return yield* new WorkflowNotFound({ workflowId })
          if (yield* store.requestCancel(workflowId)) return "requested" as const
          return yield* Effect.acquireUseRelease(
            store.acquire(workflowId, holder, ttlMillis),
            (lease) =>
              Effect.gen(function*() {
                const found = yield* store.load(workflowId)
                if (Option.isNone(found)) return yield* new WorkflowNotFound({ workflowId })
                if (found.value.status === "completed") return "already-completed" as const
                if (found.value.status !== "cancelled") {
                  const at = yield* Clock.currentTimeMillis
                  yield* store.save(lease, { ...found.value, status: "cancelled", updatedAt: at })
                }
                return "cancelled" as const
              }),
            release
          )
        }).pipe(
          // A runner took the lease between our request and our acquire: ask it again.
          Effect.retry({ while: (error) => error._tag === "WorkflowBusy" || error._tag === "LeaseLost", times: 5 }),
          Effect.catchTags({
            WorkflowBusy: () => Effect.succeed("requested" as const),
            LeaseLost: () => Effect.succeed("requested" as const)
          })
        ),
      prune: ({ olderThan, statuses }) =>
        Effect.gen(function*() {
          const age = Duration.decodeUnknown(olderThan)
          const negative = (typeof olderThan === "number" && olderThan < 0) ||
            (typeof olderThan === "bigint" && olderThan < 0n) ||
            (typeof olderThan === "string" && olderThan.trim().startsWith("-"))
          if (Option.isNone(age) || negative) {
            return yield* new InvalidInput({
              message: `prune: olderThan must be a duration of 0 or more, got ${JSON.stringify(String(olderThan))}`
            })
          }
          const now = yield* Clock.currentTimeMillis
          return yield* store.prune({
            statuses: statuses ?? ["completed", "cancelled"],
            updatedBefore: Duration.isFinite(age.value) ? now - Duration.toMillis(age.value) : Number.MIN_SAFE_INTEGER
          })
        }),
      resumeAll: (workflows, runOptions) =>
        Effect.gen(function*() {
          const byName = new Map(workflows.map((workflow) => [workflow.name, workflow]))
          const running: Array<Checkpoint> = []
          let cursor: string | undefined
          do {
            const page: Page = yield* store.list({
              status: "running",
              limit: 1000,
              ...(cursor === undefined ? {} : { cursor })
            })
            for (const item of page.items) running.push(item)
            cursor = page.cursor
          } while (cursor !== undefined)
          const completed: Array<string> = []
          const failed: Array<{ workflowId: string; error: string }> = []
          const busy: Array<string> = []
          const unknown: Array<string> = []
          yield* Effect.forEach(running, (checkpoint) => {
            const workflow = byName.get(checkpoint.name)
            if (workflow === undefined) return Effect.sync(() => void unknown.push(checkpoint.workflowId))
            return Effect.either(run(workflow, checkpoint.workflowId, "resume", Option.none(), runOptions)).pipe(
              Effect.map((result) => {
                if (result._tag === "Right") completed.push(checkpoint.workflowId)
                else if (result.left._tag === "WorkflowBusy") busy.push(checkpoint.workflowId)
                else {
                  failed.push({
                    workflowId: checkpoint.workflowId,
                    error: `${result.left._tag}: ${Failure.fromUnknown(result.left).message}`
                  })
                }
              })
            )
          }, {
            concurrency: Math.max(1, Math.floor(runOptions?.concurrency ?? 4) || 1),
            discard: true
          })
          return { completed, failed, busy, unknown }
        }),
      resumeFromLetter: (workflows, letter, runOptions) =>
        Effect.gen(function*() {
          const ref = letter.workflow
          if (ref === undefined) return yield* new InvalidInput({ message: "the letter carries no workflow reference" })
          const workflow = workflows.find((candidate) => candidate.name === ref.name)
          if (workflow === undefined) {
            return yield* new InvalidInput({ message: `no definition was given for workflow "${ref.name}"` })
          }
          return yield* run(workflow, ref.id, "resume", Option.none(), runOptions)
        })
    }
    return service
  })
}

/**
 * A heartbeat at or past the lease's ttl would let the lease expire between
 * renewals while a step runs, so another runner could take it over: refused.
 */
const checkOptions = (options: Options): { readonly ttlMillis: number; readonly heartbeatMillis: number } => {
  const ttlMillis = Duration.toMillis(Duration.decode(options.leaseTtl ?? "30 seconds"))
  if (!Number.isFinite(ttlMillis) || ttlMillis < 2) {
    throw new TypeError(`Workflows: leaseTtl must be a finite duration of at least 2 ms`)
  }
  const heartbeatMillis = options.heartbeat === undefined
    ? Math.max(1, Math.floor(ttlMillis / 3))
    : Duration.toMillis(Duration.decode(options.heartbeat))
  if (!Number.isFinite(heartbeatMillis) || heartbeatMillis < 1 || heartbeatMillis >= ttlMillis) {
    throw new TypeError(
      `Workflows: heartbeat must be at least 1 ms and shorter than leaseTtl (${ttlMillis} ms), or the lease ` +
        `expires between renewals`
    )
  }
  if (options.holder !== undefined && options.holder.length === 0) {
    throw new TypeError("Workflows: holder must not be empty")
  }
  return { ttlMillis: Math.round(ttlMillis), heartbeatMillis }
}

/**
 * The engine as a layer; needs a `CheckpointStore` and an `IdGenerator`,
 * and uses core's `DeadLetters` port when the context has one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Workflows, never, CheckpointStore | IdGenerator.IdGenerator> => Layer.effect(Workflows, make(options))

/**
 * A ready-to-use in-memory engine: `CheckpointStore.layerMemory` with
 * ULID ids, for tests and demos.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options = {}): Layer.Layer<Workflows | CheckpointStore> =>
  Layer.provideMerge(layer(options), Layer.merge(storeLayerMemory, IdGenerator.layer))
