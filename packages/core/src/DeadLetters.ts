/**
 * The dead-letter port: where the supervisor and the checkpoint engine send
 * work that failed for good. `@agentos/dlq` implements it; the application
 * wires the implementation in. Without one, a failure is reported on the
 * task's or workflow's handle instead (callers use `Effect.serviceOption`).
 *
 * Sending is idempotent: the same task or workflow id with the same attempt
 * keeps one letter, so a sender that crashed after sending may send again.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { FailureInfo } from "./Failure.js"
import { AgentId, type LetterId, TaskId, WorkflowId } from "./Ids.js"
import { JsonObject, JsonValue, StorableString } from "./Json.js"

/**
 * A reference to the workflow a letter came from; replaying the letter
 * resumes that workflow.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkflowRef = Schema.Struct({
  id: WorkflowId,
  name: StorableString,
  version: Schema.optional(Schema.Int),
  step: Schema.optional(StorableString)
}).annotations({ identifier: "WorkflowRef" })

/**
 * @since 0.1.0
 * @category models
 */
export type WorkflowRef = typeof WorkflowRef.Type

/**
 * The fields of a dead letter as a sender hands it over, for stores that
 * accept the same shape with their own defaults (`Schema.Struct({ ...DeadLetterFields, … })`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeadLetterFields = {
  /** Who sent it: "supervisor", "checkpoint", or your own component. */
  source: StorableString.pipe(Schema.minLength(1)),
  taskType: StorableString.pipe(Schema.minLength(1)),
  taskId: Schema.optional(TaskId),
  workflow: Schema.optional(WorkflowRef),
  /**
   * Which attempt failed for good (part of the idempotency key). For a task,
   * its last attempt number; for a workflow, the run number that failed (each
   * failed run of a workflow is its own letter).
   */
  attempt: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  /** How many attempts were made in all. */
  attempts: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  payload: JsonValue,
  error: FailureInfo,
  agent: Schema.optional(AgentId),
  /** Epoch milliseconds of the first and the last attempt. */
  firstAttemptAt: Schema.Int,
  lastAttemptAt: Schema.Int,
  context: Schema.optional(JsonObject)
}

/**
 * Why attempt times are inconsistent, or undefined when they are not.
 *
 * @since 0.1.0
 * @category validation
 */
export const attemptTimesIssue = (input: {
  readonly firstAttemptAt: number
  readonly lastAttemptAt: number
}): string | undefined =>
  input.lastAttemptAt < input.firstAttemptAt ? "lastAttemptAt is before firstAttemptAt" : undefined

/**
 * What a sender hands over. Either `taskId` or `workflow` identifies the
 * work; with `attempt` it forms the idempotency key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeadLetterInput = Schema.Struct(DeadLetterFields).pipe(
  Schema.filter((input) =>
    input.taskId === undefined && input.workflow === undefined
      ? "a dead letter needs a taskId or a workflow reference"
      : attemptTimesIssue(input)
  )
).annotations({ identifier: "DeadLetterInput" })

/**
 * @since 0.1.0
 * @category models
 */
export type DeadLetterInput = typeof DeadLetterInput.Type

/**
 * The idempotency key of a letter: `task:<id>:<attempt>` or
 * `workflow:<id>:<attempt>`.
 *
 * @since 0.1.0
 * @category getters
 */
export const dedupeKey = (input: DeadLetterInput): string =>
  input.taskId !== undefined
    ? `task:${input.taskId}:${input.attempt}`
    : `workflow:${input.workflow!.id}:${input.attempt}`

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterReceipt {
  readonly letterId: LetterId
  /** True when a letter with the same idempotency key already existed. */
  readonly duplicate: boolean
}

/**
 * The dead letter could not be stored (invalid input, a full queue, a store
 * failure). The sender must keep reporting the failure on its own handle.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadLetterRejected extends Schema.TaggedError<DeadLetterRejected>()("DeadLetterRejected", {
  reason: Schema.Literal("invalid", "payload-too-large", "queue-full", "store"),
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLettersService {
  readonly send: (letter: DeadLetterInput) => Effect.Effect<DeadLetterReceipt, DeadLetterRejected>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DeadLetters extends Context.Tag("@agentos/core/DeadLetters")<DeadLetters, DeadLettersService>() {}
