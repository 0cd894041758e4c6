/**
 * A workflow definition: a name, a version, a typed state (a `Schema`, so a
 * checkpoint is decoded and validated on resume) and ordered steps. Each
 * step returns the part of the state it changes; it has a retry policy (a
 * `Schedule`), a timeout that interrupts it, and a rule for which errors are
 * not worth retrying.
 *
 * ```ts
 * const research = Workflow.make({
 *   name: "research",
 *   version: 1,
 *   state: Schema.Struct({ query: Schema.String, sources: Schema.optional(Schema.Array(Schema.String)) })
 * }).step({
 *   name: "search",
 *   run: (state, { idempotencyKey }) => search(state.query, idempotencyKey).pipe(Effect.map((sources) => ({ sources }))),
 *   timeout: "30 seconds"
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { WorkflowId } from "@agentos/core/Ids"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type { StepTimeout } from "./Errors.js"

/**
 * What a step receives beside the state. `idempotencyKey` is
 * `<workflowId>:<step>:<attempt>`, a ":" in the step's name written `%3A`
 * (so that no two workflow ids, steps and attempts share a key): stable
 * across a crash (a step that was
 * running when its process died runs again with the same attempt number,
 * since attempts are recorded when a step completes or an attempt fails,
 * before its retry), and never given to two attempts that ran to an end, so
 * pass it to side-effecting calls to make them run once.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext {
  readonly workflowId: WorkflowId
  readonly workflow: string
  readonly step: string
  readonly stepIndex: number
  /** 1 for the first attempt of this step ever, counted across runs. */
  readonly attempt: number
  /** Which run of the workflow this is (1 for the first execution). */
  readonly run: number
  readonly idempotencyKey: string
}

/**
 * The errors a run can fail with, from `Errors`.
 *
 * @since 0.1.0
 * @deprecated import them from `Errors` (`import { Errors } from "@agentos/checkpoint"`)
 */
export {
  CheckpointInvalid,
  InvalidInput,
  StepFailed,
  StepTimeout,
  VersionMismatch,
  WorkflowCancelled,
  WorkflowNotFound
} from "./Errors.js"

/**
 * One step of a workflow.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<S, E, R> {
  readonly name: string
  readonly run: (state: S, context: StepContext) => Effect.Effect<Partial<S>, E, R>
  /** Fed only with this step's errors (`E | StepTimeout`). */
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly timeout: Duration.Duration
  /** Whether an error (`E | StepTimeout`) is worth another attempt. */
  readonly isRetryable: (error: unknown) => boolean
}

/**
 * How a step is declared. Defaults: `retry` is `defaultRetry` (exponential
 * backoff from 1 s, capped at 30 s, 3 retries); `timeout` 5 minutes; every
 * error retryable. `nonRetryable` is a list of error tags or a predicate.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions<S, E, R> {
  readonly name: string
  readonly run: (state: S, context: StepContext) => Effect.Effect<Partial<S>, E, R>
  readonly retry?: Schedule.Schedule<unknown, E | StepTimeout>
  readonly timeout?: Duration.DurationInput
  readonly nonRetryable?: ReadonlyArray<string> | ((error: E | StepTimeout) => boolean)
}

/**
 * Turns a checkpoint's encoded state written by an older version into the
 * encoded state of the current version (decoded afterwards by the schema).
 *
 * @since 0.1.0
 * @category models
 */
export type Migration = (state: unknown) => Effect.Effect<unknown, unknown>

/**
 * A workflow definition. Add steps with `.step(...)`, which returns a new
 * definition (definitions are immutable).
 *
 * @since 0.1.0
 * @category models
 */
export interface Workflow<S, I, E = never, R = never> {
  readonly name: string
  readonly version: number
  readonly state: Schema.Schema<S, I>
  readonly steps: ReadonlyArray<Step<S, E, R>>
  /** Migrations keyed by the version they migrate from. */
  readonly migrations: Readonly<Record<number, Migration>>
  readonly step: <E2, R2>(options: StepOptions<S, E2, R2>) => Workflow<S, I, E | E2, R | R2>
}

/**
 * The default retry policy: exponential backoff from 1 s (1 s, 2 s, 4 s, …)
 * with each delay capped at 30 s, at most 3 retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 second").pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30))),
  Schedule.intersect(Schedule.recurs(3))
)

/**
 * The default step timeout: 5 minutes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultTimeout: Duration.Duration = Duration.minutes(5)

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/

const makeStep = <S, E, R>(options: StepOptions<S, E, R>, existing: ReadonlyArray<{ readonly name: string }>) => {
  if (!NAME.test(options.name)) {
    throw new TypeError(`Workflow.step: "${options.name}" is not a valid step name (${NAME.source})`)
  }
  if (existing.some((step) => step.name === options.name)) {
    throw new TypeError(`Workflow.step: a step named "${options.name}" already exists`)
  }
  const timeout = Duration.decode(options.timeout ?? defaultTimeout)
  if (!Duration.isFinite(timeout) || Duration.toMillis(timeout) <= 0) {
    throw new TypeError(`Workflow.step: the timeout of "${options.name}" must be a positive, finite duration`)
  }
  const nonRetryable = options.nonRetryable
  const isRetryable = nonRetryable === undefined
    ? () => true
    : typeof nonRetryable === "function"
    ? (error: unknown) => !nonRetryable(error as E | StepTimeout)
    : (error: unknown) =>
      !(Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && nonRetryable.includes(error._tag))
  const step: Step<S, E, R> = {
    name: options.name,
    run: options.run,
    // Stored as a schedule of unknown input so that a definition stays
    // covariant in its error type; the engine feeds it this step's errors only.
    retry: (options.retry ?? defaultRetry) as Schedule.Schedule<unknown, unknown>,
    timeout,
    isRetryable
  }
  return step
}

const build = <S, I, E, R>(
  name: string,
  version: number,
  state: Schema.Schema<S, I>,
  steps: ReadonlyArray<Step<S, E, R>>,
  migrations: Readonly<Record<number, Migration>>
): Workflow<S, I, E, R> => ({
  name,
  version,
  state,
  steps,
  migrations,
  step: <E2, R2>(options: StepOptions<S, E2, R2>) =>
    build<S, I, E | E2, R | R2>(
      name,
      version,
      state,
      [...steps, makeStep(options, steps)],
      migrations
    )
})

/**
 * Starts a definition. `name` is 1–128 characters of `[A-Za-z0-9_.:-]`;
 * `version` a positive integer (default 1); `state` the schema of the
 * state, whose encoded form must be JSON; `migrations` turn checkpoints of
 * older versions into this one. Throws a `TypeError` on an invalid
 * definition (a programming error, caught when the module loads).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends object, I>(options: {
  readonly name: string
  readonly version?: number
  readonly state: Schema.Schema<S, I>
  readonly migrations?: Readonly<Record<number, Migration>>
}): Workflow<S, I> => {
  if (!NAME.test(options.name)) {
    throw new TypeError(`Workflow.make: "${options.name}" is not a valid workflow name (${NAME.source})`)
  }
  const version = options.version ?? 1
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TypeError(`Workflow.make: the version of "${options.name}" must be a positive integer`)
  }
  return build(options.name, version, options.state, [], options.migrations ?? {})
}
