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
import type { WorkflowId } from "@agentos/core/Ids"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type {
  Checkpoint as CheckpointType,
  Grant,
  Lease,
  LeaseState,
  ListQuery,
  Page,
  SaveOptions,
  Status
} from "./Checkpoint.js"
import type { InvalidInput, InvalidOptions, LeaseLost, StoreError, WorkflowBusy } from "./Errors.js"
import * as FileStore from "./internal/fileStore.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as SqlStore from "./internal/sqlStore.js"
import * as Tracing from "./internal/tracing.js"

/**
 * The schemas and types of a checkpoint and of the store's contract, from
 * `Checkpoint` (re-exported here, where the contract uses them).
 *
 * @since 0.1.0
 */
export {
  Checkpoint,
  type Grant,
  type Lease,
  type LeaseState,
  ListOrder,
  type ListQuery,
  type Page,
  type SaveOptions,
  Status,
  StepFailure
} from "./Checkpoint.js"

/**
 * The store's errors, from `Errors`.
 *
 * @since 0.1.0
 * @deprecated import them from `Errors` (`import { Errors } from "@agentos/checkpoint"`)
 */
export { LeaseLost, StoreError, WorkflowBusy } from "./Errors.js"

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
    initial: CheckpointType
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
  readonly load: (workflowId: WorkflowId) => Effect.Effect<Option.Option<CheckpointType>, StoreError>
  /**
   * Writes the checkpoint atomically under the lease, or refuses with
   * `LeaseLost` when the lease's epoch is no longer current. (Only `renew`
   * extends the lease.) With `{ release: true }` an accepted save also
   * releases the lease (the lease state returned is the one before it).
   */
  readonly save: (
    lease: Lease,
    checkpoint: CheckpointType,
    options?: SaveOptions
  ) => Effect.Effect<LeaseState, LeaseLost | StoreError>
  /**
   * Checkpoints by status and name, ordered by workflow id (`order`: `"asc"`,
   * the default, or `"desc"`), a page at a time; the page's `cursor` (its
   * last workflow id) asks for the ones after it in that order. An invalid
   * `order` or `cursor` fails with `InvalidInput`.
   */
  readonly list: (query?: ListQuery) => Effect.Effect<Page, InvalidInput | StoreError>
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
 * Options of `layerMemory` (none yet: a function of options, as every layer).
 *
 * @since 0.2.0
 * @category models
 */
export interface MemoryOptions {}

/**
 * An in-process store: leases judged by Effect's `Clock`. Each build is a
 * fresh, empty store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (_options: MemoryOptions = {}): Layer.Layer<CheckpointStore> =>
  Layer.effect(CheckpointStore, Effect.map(MemoryStore.make, Tracing.store))

/**
 * Options of `layerFileSystem`: the directory of the checkpoint files
 * (created when missing).
 *
 * @since 0.2.0
 * @category models
 */
export interface FileSystemOptions {
  readonly directory: string
}

/**
 * A store in a directory, one JSON file per workflow, written atomically
 * (temporary file, fsync, rename, directory fsync), so a crash mid-write
 * leaves the previous checkpoint intact. It serves one process: a lock file
 * (`.lock`, holding the owner's pid) guards the directory, and a second
 * process fails with a `StoreError` while the owner lives. Leases are held
 * in memory and judged by Effect's `Clock`. An empty `directory` fails the
 * layer with `InvalidOptions`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (
  options: FileSystemOptions
): Layer.Layer<CheckpointStore, StoreError | InvalidOptions, FileSystem.FileSystem> =>
  Layer.scoped(CheckpointStore, Effect.map(FileStore.make(options), Tracing.store))

/**
 * Options of `layerSql` (none yet: a function of options, as every layer).
 *
 * @since 0.2.0
 * @category models
 */
export interface SqlOptions {}

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
 * Statements that meet `SQLITE_BUSY` (another connection holds the write
 * lock) or a Postgres serialisation failure are retried.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (_options: SqlOptions = {}): Layer.Layer<CheckpointStore, StoreError, SqlClient.SqlClient> =>
  Layer.effect(CheckpointStore, Effect.map(SqlStore.make, Tracing.store))
