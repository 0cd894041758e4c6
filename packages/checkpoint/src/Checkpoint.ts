/**
 * The data of `@agentos/checkpoint`: a workflow's checkpoint as stored (a
 * schema, so every backend decodes and validates what it reads), its status,
 * the failure it stopped at, and the lease, grant and page types of the
 * `CheckpointStore` contract. A leaf: it imports only `effect` and
 * `@agentos/core`.
 *
 * @since 0.2.0
 */
import { FailureInfo } from "@agentos/core/Failure"
import { WorkflowId } from "@agentos/core/Ids"
import { JsonValue } from "@agentos/core/Json"
import * as Schema from "effect/Schema"

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
 * A granted lease: who holds it, its epoch (the lease's fencing token,
 * strictly increasing per workflow id) and how long each grant or renewal
 * lasts.
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
  /**
   * The workflow id of this page's last item, set when more may follow:
   * pass it back as `cursor`, with the same `order` and filters, for the
   * next page. Absent on the last page.
   */
  readonly cursor?: string
}

/**
 * The order of `list`, by workflow id (bytewise on every backend): `"asc"`
 * smallest id first, `"desc"` largest first. With time-ordered ids (as
 * `@agentos/core`'s `IdGenerator` makes), `"desc"` is newest first.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ListOrder = Schema.Literal("asc", "desc")

/**
 * @since 0.2.0
 * @category models
 */
export type ListOrder = typeof ListOrder.Type

/**
 * The filter and page of `list`, ordered by workflow id. Filters combine
 * with the order. An `order` other than `"asc"` or `"desc"`, or a `cursor`
 * that is not a string, fails with `InvalidInput`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListQuery {
  readonly status?: Status
  readonly name?: string
  /**
   * The `cursor` of the previous page: this page holds the workflows whose
   * id comes strictly after it in `order` (greater for `"asc"`, smaller for
   * `"desc"`). It is a workflow id, not a position, so workflows added or
   * removed between pages never make the next page skip or repeat one.
   */
  readonly cursor?: string
  /** Default 100, at most 1000. */
  readonly limit?: number
  /**
   * `"asc"` (the default): smallest workflow id first; `"desc"`: largest
   * first.
   *
   * @since 0.2.0
   */
  readonly order?: ListOrder
}
