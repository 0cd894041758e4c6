/**
 * Where checkpoints and leases live. A `CheckpointStore` keeps one checkpoint
 * per workflow id (its state, completed steps, attempts, timestamps, version
 * and status) and one lease per workflow id (holder, epoch, expiry) that
 * gives one runner at a time the right to save.
 *
 * Every save carries the epoch of the lease it was granted under and is
 * refused with `LeaseLost` when that epoch is no longer the current one, so
 * a runner that lost its lease can never overwrite a newer runner's work.
 *
 * Layers: `layerMemory` (one process, tests), `layerFileSystem` (one process,
 * atomic files, guarded by a lock file) and `layerSql` (SQLite or Postgres,
 * shared by many processes; leases judged by the database's clock).
 *
 * @since 0.1.0
 */
import { FailureInfo } from "@agentos/core/Failure"
import { WorkflowId } from "@agentos/core/Ids"
import { JsonValue } from "@agentos/core/Json"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as FileStore from "./internal/fileStore.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as SqlStore from "./internal/sqlStore.js"

/**
 * Where a workflow stands.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Literal("running", "completed", "failed", "cancelled")

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * The step a failed workflow stopped at, and why.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepFailure = Schema.Struct({
  step: Schema.String,
  stepIndex: Schema.Int,
  attempts: Schema.Int,
  error: FailureInfo,
  at: Schema.Int
}).annotations({ identifier: "StepFailure" })

/**
 * @since 0.1.0
 * @category models
 */
export type StepFailure = typeof StepFailure.Type

/**
 * One workflow's checkpoint, as stored. `state` is the state encoded by the
 * workflow's schema (JSON); `attempts` counts the attempts made per step;
 * `run` counts the runs (first execution, then every resume or retry);
 * `epoch` is the lease epoch of the save that wrote it. Times are epoch
 * milliseconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Checkpoint = Schema.Struct({
  workflowId: WorkflowId,
  name: Schema.String,
  version: Schema.Int,
  status: Status,
  state: JsonValue,
  completedSteps: Schema.Array(Schema.String),
  attempts: Schema.Record({ key: Schema.String, value: Schema.Int }),
  run: Schema.Int,
  failure: Schema.optional(StepFailure),
  createdAt: Schema.Int,
  updatedAt: Schema.Int,
  completedAt: Schema.optional(Schema.Int),
  epoch: Schema.Int
}).annotations({ identifier: "Checkpoint" })

/**
 * @since 0.1.0
 * @category models
 */
export type Checkpoint = typeof Checkpoint.Type

/**
 * A granted lease: who holds it, its epoch (strictly increasing per
 * workflow id) and how long each grant or renewal lasts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  readonly workflowId: WorkflowId
  readonly holder: string
  readonly epoch: number
  readonly ttlMillis: number
}

/**
 * What a renewal or a save reports back: whether someone asked the runner
 * to cancel the workflow.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseState {
  readonly cancelRequested: boolean
}

/**
 * Options of `save`. `release: true` also ends the lease (as `release`
 * does) when the save is accepted, in the same statement where the backend
 * allows (Postgres): the save that completes a workflow then needs no
 * separate release.
 *
 * @since 0.1.0
 * @category models
 */
export interface SaveOptions {
  readonly release?: boolean
}

/**
 * What `acquireAndCreate` did: the lease it granted, and whether it also
 * saved the initial checkpoint (the workflow had none); when it did,
 * `cancelRequested` is the lease's cancellation request, as a save reports
 * it (else false: only the grant happened).
 *
 * @since 0.1.0
 * @category models
 */
export interface Grant {
  readonly lease: Lease
  readonly created: boolean
  readonly cancelRequested: boolean
}

/**
 * A page of `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly items: ReadonlyArray<Checkpoint>
  /** Pass it back as `cursor` for the next page; absent on the last page. */
  readonly cursor?: string
}

/**
 * The filter and page of `list`, ordered by workflow id.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListQuery {
  readonly status?: Status
  readonly name?: string
  /** The `cursor` of the previous page. */
  readonly cursor?: string
  /** Default 100, at most 1000. */
  readonly limit?: number
}

/**
 * The store failed (I/O, database, a corrupt file).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  message: Schema.String
}) {}

/**
 * Another runner holds the workflow's lease. `retryAfterMillis` is how long
 * its lease has left (by the store's clock).
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowBusy extends Schema.TaggedError<WorkflowBusy>()("WorkflowBusy", {
  workflowId: Schema.String,
  holder: Schema.String,
  retryAfterMillis: Schema.Int
}) {}

/**
 * The lease this runner held was granted to another runner (a newer epoch):
 * the save or renewal was refused and the runner must stop.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  workflowId: Schema.String,
  epoch: Schema.Int
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface CheckpointStoreService {
  /**
   * Grants the workflow's lease to `holder` for `ttlMillis` when nobody holds
   * an unexpired one; the new epoch is one more than the last. A cancellation
   * requested of a holder that died (its lease expired, never released) stays
   * pending for the new holder.
   */
  readonly acquire: (
    workflowId: WorkflowId,
    holder: string,
    ttlMillis: number
  ) => Effect.Effect<Lease, WorkflowBusy | StoreError>
  /**
   * `acquire`, and when the workflow has no checkpoint yet, saves `initial`
   * under the new lease (its `workflowId` and `epoch` are the lease's). On
   * Postgres the grant and that save are one statement (one commit); the
   * other stores save it right after the grant, fenced as `save` is. A
   * workflow that has a checkpoint gets only the grant (`created: false`):
   * `load` it.
   */
  readonly acquireAndCreate: (
    workflowId: WorkflowId,
    holder: string,
    ttlMillis: number,
    initial: Checkpoint
  ) => Effect.Effect<Grant, WorkflowBusy | StoreError>
  /**
   * Extends the lease by its ttl; `LeaseLost` when its epoch is no longer
   * current or it was released (a released lease is never renewed).
   */
  readonly renew: (lease: Lease) => Effect.Effect<LeaseState, LeaseLost | StoreError>
  /** Ends the lease now and clears a pending cancellation request (no-op when it is no longer current). */
  readonly release: (lease: Lease) => Effect.Effect<void, StoreError>
  /** Asks the current holder to cancel; false when nobody holds an unexpired lease. */
  readonly requestCancel: (workflowId: WorkflowId) => Effect.Effect<boolean, StoreError>
  /** The workflow's checkpoint, if any. */
  readonly load: (workflowId: WorkflowId) => Effect.Effect<Option.Option<Checkpoint>, StoreError>
  /**
   * Writes the checkpoint atomically under the lease, or refuses with
   * `LeaseLost` when the lease's epoch is no longer current. (Only `renew`
   * extends the lease.) With `{ release: true }` an accepted save also
   * releases the lease (the lease state returned is the one before it).
   */
  readonly save: (
    lease: Lease,
    checkpoint: Checkpoint,
    options?: SaveOptions
  ) => Effect.Effect<LeaseState, LeaseLost | StoreError>
  /** Checkpoints by status and name, ordered by workflow id, a page at a time. */
  readonly list: (query?: ListQuery) => Effect.Effect<Page, StoreError>
  /**
   * Deletes checkpoints of the given statuses last updated before
   * `updatedBefore` (epoch ms) whose lease is not held; returns how many.
   */
  readonly prune: (options: {
    readonly statuses: ReadonlyArray<Status>
    readonly updatedBefore: number
  }) => Effect.Effect<number, StoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CheckpointStore extends Context.Tag("@agentos/checkpoint/CheckpointStore")<
  CheckpointStore,
  CheckpointStoreService
>() {}

/**
 * An in-process store: leases judged by Effect's `Clock`. Each build is a
 * fresh, empty store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CheckpointStore> = Layer.effect(CheckpointStore, MemoryStore.make)

/**
 * A store in a directory, one JSON file per workflow, written atomically
 * (temporary file, fsync, rename, directory fsync), so a crash mid-write
 * leaves the previous checkpoint intact. It serves one process: a lock file
 * (`.lock`, holding the owner's pid) guards the directory, and a second
 * process fails with a `StoreError` while the owner lives. Leases are held
 * in memory and judged by Effect's `Clock`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (options: {
  readonly directory: string
}): Layer.Layer<CheckpointStore, StoreError, FileSystem.FileSystem> =>
  Layer.scoped(CheckpointStore, FileStore.make(options))

/**
 * A store over `@effect/sql` (SQLite or Postgres, same statements): it runs
 * its migrations (`agentos_checkpoint_migrations`), keeps checkpoints in
 * `agentos_checkpoint_workflows` and leases in `agentos_checkpoint_leases`,
 * and judges lease expiry by the database's clock. A save is one statement:
 * an upsert that writes only while the lease row still carries the save's
 * epoch (on Postgres it share-locks that row, so a concurrent grant waits
 * for the save to commit and the new holder then reads it). A save that
 * also releases the lease is one statement on Postgres (the upsert and the
 * lease update, one commit); on SQLite the save, then the release.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (): Layer.Layer<CheckpointStore, StoreError, SqlClient.SqlClient> =>
  Layer.effect(CheckpointStore, SqlStore.make)
