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
 * This module is wiring: the Tag, the service interface, its options and
 * layers. The rules live in `internal/service.ts` and its seams.
 *
 * @since 0.2.0
 */
import type * as DeadLetters from "@agentos/core/DeadLetters"
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Checkpoint, ListQuery, Page, Status } from "./Checkpoint.js"
import { CheckpointStore, layerMemory as storeLayerMemory } from "./CheckpointStore.js"
import type {
  CheckpointInvalid,
  InvalidInput,
  InvalidOptions,
  LeaseLost,
  StepFailed,
  StoreError,
  VersionMismatch,
  WorkflowBusy,
  WorkflowCancelled,
  WorkflowNotFound
} from "./Errors.js"
import * as Metrics from "./internal/metrics.js"
import * as Service from "./internal/service.js"
import type { Workflow } from "./Workflow.js"

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
export interface WorkflowEngineService {
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
  /**
   * Checkpoints by status and name, a page at a time, ordered by workflow id:
   * `order: "asc"` (the default) or `"desc"` (newest first with time-ordered
   * ids). Pass a page's `cursor` back, with the same `order` and filters, for
   * the next page. An invalid `order` or `cursor` fails with `InvalidInput`.
   */
  readonly list: (query?: ListQuery) => Effect.Effect<Page, InvalidInput | StoreError>
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
 * The workflow engine.
 *
 * @since 0.2.0
 * @category tags
 */
export class WorkflowEngine extends Context.Tag("@agentos/checkpoint/WorkflowEngine")<
  WorkflowEngine,
  WorkflowEngineService
>() {}

/**
 * Options of the engine. `leaseTtl` (default 30 s) is how long a lease
 * lasts without renewal; the watchdog renews it every `heartbeat` (default
 * a third of the ttl, and it must be shorter than the ttl) for as long as the
 * runner holds it, through steps and retry backoffs alike (a save does not
 * renew it). `holder` names this runner in leases (default: a new id from
 * `IdGenerator`). Invalid options fail `make` and `layer` with
 * `InvalidOptions` when the engine is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly leaseTtl?: Duration.DurationInput
  readonly heartbeat?: Duration.DurationInput
  readonly holder?: string
}

/**
 * Steps completed and saved (`agentos_checkpoint_steps_completed_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const stepsCompleted = Metrics.stepsCompleted

/**
 * Step attempts that failed and were retried (`agentos_checkpoint_step_retries_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const stepRetries = Metrics.stepRetries

/**
 * Workflows that completed (`agentos_checkpoint_workflows_completed_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const workflowsCompleted = Metrics.workflowsCompleted

/**
 * Workflows that failed, a step failed for good (`agentos_checkpoint_workflows_failed_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const workflowsFailed = Metrics.workflowsFailed

/**
 * Builds the engine over a `CheckpointStore`; fails with `InvalidOptions`
 * when the options are not valid.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<WorkflowEngineService, InvalidOptions, CheckpointStore | IdGenerator.IdGenerator> =>
  Effect.flatMap(CheckpointStore, (store) => Service.make(options, store))

/**
 * The engine as a layer; needs a `CheckpointStore` and an `IdGenerator`,
 * and uses core's `DeadLetters` port when the context has one. Invalid
 * options fail the layer with `InvalidOptions` when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<WorkflowEngine, InvalidOptions, CheckpointStore | IdGenerator.IdGenerator> =>
  Layer.effect(WorkflowEngine, make(options))

/**
 * A ready-to-use in-memory engine: `CheckpointStore.layerMemory` with
 * ULID ids, for tests and demos.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: Options = {}
): Layer.Layer<WorkflowEngine | CheckpointStore, InvalidOptions> =>
  Layer.provideMerge(layer(options), Layer.merge(storeLayerMemory(), IdGenerator.layer))
