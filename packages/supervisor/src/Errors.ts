/**
 * The typed errors of the supervisor. They are `Schema.TaggedError`s, so they
 * serialise across HTTP, files and (next) a shared queue.
 *
 * @since 0.1.0
 */
import { FailureInfo } from "@agentos/core/Failure"
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * A call's argument is not valid (a priority that is not an integer, a
 * timeout that is not positive, a worker without task types). Nothing
 * changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid. The layer fails when it is built.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * The task queue's backend failed. `operation` names the queue operation
 * (`"offer"`, `"take"`, `"finish"`); `cause` keeps the backend's error whole
 * (core's `StoreFailure` shape, shared by every package's `StoreError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.1.0 */
  override get message(): string {
    return StoreFailure.message("supervisor", this)
  }
}

/**
 * No task type of this name is registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownTaskType extends Schema.TaggedError<UnknownTaskType>()("UnknownTaskType", {
  taskType: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no task type "${this.taskType}" is registered`
  }
}

/**
 * A payload does not match its task type's payload schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  taskType: Schema.String,
  message: Schema.String
}) {}

/**
 * The task's type queue is full: the task was not accepted. `queueDepth` is
 * the type's queued tasks, `maxQueued` its bound, `load` the share of the
 * workers' slots in use (0–1), `retryAfterMillis` when trying again may
 * succeed (from the type's recent task latency).
 *
 * @since 0.1.0
 * @category errors
 */
export class Backpressure extends Schema.TaggedError<Backpressure>()("Backpressure", {
  taskType: Schema.String,
  queueDepth: Schema.Int,
  maxQueued: Schema.Int,
  load: Schema.Number,
  retryAfterMillis: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the "${this.taskType}" queue is full (${this.queueDepth}/${this.maxQueued}, load ${
      Math.round(this.load * 100)
    }%): retry after ${this.retryAfterMillis} ms`
  }
}

/**
 * The supervisor is shutting down (its scope is closing) and accepts no new
 * task.
 *
 * @since 0.1.0
 * @category errors
 */
export class SupervisorClosed extends Schema.TaggedError<SupervisorClosed>()("SupervisorClosed", {}) {
  /** @since 0.1.0 */
  override get message(): string {
    return "the supervisor is shutting down"
  }
}

/**
 * A task's last attempt ran past its timeout: its handler was interrupted
 * (its finalizers ran).
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  taskId: Schema.String,
  timeoutMillis: Schema.Int,
  attempts: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `task ${this.taskId} timed out after ${this.timeoutMillis} ms (attempt ${this.attempts})`
  }
}

/**
 * A task failed for good: its retries are exhausted (or it was not to be
 * retried) and no dead letter queue took it. `error` is its last failure;
 * `deadLetterError`, when present, says why writing its dead letter failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskFailed extends Schema.TaggedError<TaskFailed>()("TaskFailed", {
  taskId: Schema.String,
  attempts: Schema.Int,
  error: FailureInfo,
  deadLetterError: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `task ${this.taskId} failed after ${this.attempts} attempt(s): ${this.error.message}${
      this.deadLetterError === undefined ? "" : ` (its dead letter could not be written: ${this.deadLetterError})`
    }`
  }
}

/**
 * A task failed for good and became a dead letter (`letterId` in the
 * `DeadLetters` implementation, e.g. `@agentos/dlq`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskDeadLettered extends Schema.TaggedError<TaskDeadLettered>()("TaskDeadLettered", {
  taskId: Schema.String,
  letterId: Schema.String,
  attempts: Schema.Int,
  error: FailureInfo
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `task ${this.taskId} failed after ${this.attempts} attempt(s) and became dead letter ${this.letterId}: ${this.error.message}`
  }
}

/**
 * A poison task: on a shared queue, `lostDeliveries` of its deliveries were
 * lost to runners that died (at least `maxDeliveries`), so it was ended
 * without running again — whatever its retry policy. With a `DeadLetters`
 * implementation it became dead letter `letterId` (status `dead-lettered`);
 * without one, or when writing the letter failed (`deadLetterError`), its
 * status is `failed`. `failures` counts its attempts that failed in a
 * handler; `deliveries` every delivery, the last (unrun) one included.
 *
 * @since 0.2.0
 * @category errors
 */
export class TaskPoisoned extends Schema.TaggedError<TaskPoisoned>()("TaskPoisoned", {
  taskId: Schema.String,
  deliveries: Schema.Int,
  lostDeliveries: Schema.Int,
  failures: Schema.Int,
  letterId: Schema.optional(Schema.String),
  deadLetterError: Schema.optional(Schema.String)
}) {
  /** @since 0.2.0 */
  override get message(): string {
    return `task ${this.taskId} is a poison task: ${this.lostDeliveries} of its deliveries were lost to runners that died${
      this.letterId === undefined ? "" : `; it became dead letter ${this.letterId}`
    }${this.deadLetterError === undefined ? "" : ` (its dead letter could not be written: ${this.deadLetterError})`}`
  }
}

/**
 * A task was cancelled (by `cancel` or by a shutdown that cancels) before it
 * completed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskCancelled extends Schema.TaggedError<TaskCancelled>()("TaskCancelled", {
  taskId: Schema.String,
  reason: Schema.Literal("cancelled", "shutdown")
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `task ${this.taskId} was cancelled${this.reason === "shutdown" ? " by the supervisor's shutdown" : ""}`
  }
}

/**
 * No task with this id is known: never submitted, or its result was dropped
 * after the retention time or count.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()("TaskNotFound", {
  taskId: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no task with id "${this.taskId}" (never submitted, or its result is no longer kept)`
  }
}

/**
 * How a task ended without a result, as `await` and `result` fail.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskError = TaskTimeout | TaskFailed | TaskDeadLettered | TaskPoisoned | TaskCancelled
