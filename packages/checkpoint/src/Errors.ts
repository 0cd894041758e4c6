/**
 * Every typed error of `@agentos/checkpoint`. They are `Schema.TaggedError`s,
 * so they serialise across HTTP, files and queues. This module is a leaf: it
 * imports only `effect` and `@agentos/core`, so anyone may import it first.
 *
 * @since 0.2.0
 */
import { FailureInfo } from "@agentos/core/Failure"
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * The store failed (I/O, database, a corrupt file). `operation` names the
 * store operation (`"save"`, `"acquire"`, `"open"`…); `cause` keeps the
 * driver's error.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.2.0 */
  override get message(): string {
    return StoreFailure.message("checkpoint", this)
  }
}

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
 * A step ran longer than its timeout and was interrupted (its finalizers
 * ran). Retryable unless the step says otherwise.
 *
 * @since 0.1.0
 * @category errors
 */
export class StepTimeout extends Schema.TaggedError<StepTimeout>()("StepTimeout", {
  step: Schema.String,
  timeoutMillis: Schema.Number
}) {}

/**
 * A step failed for good (a non-retryable error, a defect, or retries
 * exhausted). The checkpoint keeps the failure; resuming or retrying the
 * workflow runs this step again.
 *
 * @since 0.1.0
 * @category errors
 */
export class StepFailed extends Schema.TaggedError<StepFailed>()("StepFailed", {
  workflowId: Schema.String,
  workflow: Schema.String,
  step: Schema.String,
  stepIndex: Schema.Int,
  attempts: Schema.Int,
  error: FailureInfo,
  completedSteps: Schema.Array(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `workflow "${this.workflowId}" (${this.workflow}) failed at step "${this.step}" (#${this.stepIndex}) ` +
      `after ${this.attempts} attempt(s): ${this.error.tag}: ${this.error.message}`
  }
}

/**
 * The workflow was cancelled (it stays cancelled until `retry`).
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowCancelled extends Schema.TaggedError<WorkflowCancelled>()("WorkflowCancelled", {
  workflowId: Schema.String,
  workflow: Schema.String
}) {}

/**
 * No checkpoint exists for this workflow id.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowNotFound extends Schema.TaggedError<WorkflowNotFound>()("WorkflowNotFound", {
  workflowId: Schema.String
}) {}

/**
 * The stored checkpoint cannot be used by this definition: it belongs to
 * another workflow, its state does not decode with the workflow's schema, or
 * its migration failed. Nothing ran and nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointInvalid extends Schema.TaggedError<CheckpointInvalid>()("CheckpointInvalid", {
  workflowId: Schema.String,
  workflow: Schema.String,
  message: Schema.String
}) {}

/**
 * The checkpoint was written by another version of the workflow and the
 * definition has no migration from that version.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionMismatch extends Schema.TaggedError<VersionMismatch>()("VersionMismatch", {
  workflowId: Schema.String,
  workflow: Schema.String,
  checkpointVersion: Schema.Int,
  workflowVersion: Schema.Int
}) {}

/**
 * Bad input: an invalid workflow id, an input state that does not encode to
 * JSON with the workflow's schema, a letter without a known workflow, a
 * negative or unreadable `prune` age, or a `list` order other than `"asc"` or
 * `"desc"` or a cursor that is not a string. Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid (a heartbeat at or past the lease's ttl,
 * an empty holder or directory…). The layer fails when it is built, and
 * nothing was opened or changed.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}
