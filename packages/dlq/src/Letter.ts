/**
 * The data of the dead letter queue: a letter, what `add` takes, the filters
 * of `list`, a page, a summary and the outcome of a replay. Every shape is a
 * `Schema`, so letters cross files, SQL rows and HTTP unchanged.
 *
 * @since 0.1.0
 */
import { attemptTimesIssue, DeadLetterFields, WorkflowRef } from "@agentos/core/DeadLetters"
import { FailureInfo } from "@agentos/core/Failure"
import { AgentId, LetterId, TaskId } from "@agentos/core/Ids"
import { JsonObject, JsonValue, StorableString } from "@agentos/core/Json"
import * as Schema from "effect/Schema"

/**
 * How a letter was resolved: by a successful replay (with the handler's
 * result) or by hand (with an operator's note).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Resolution = Schema.Struct({
  kind: Schema.Literal("replayed", "manual"),
  /** Epoch milliseconds (Effect `Clock`). */
  at: Schema.Int,
  note: Schema.String,
  /** The replay handler's result, when it returned one. */
  result: Schema.optional(JsonValue)
}).annotations({ identifier: "Resolution" })

/**
 * @since 0.1.0
 * @category models
 */
export type Resolution = typeof Resolution.Type

/**
 * A dead letter: the failed task with everything needed to understand and
 * replay it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Letter = Schema.Struct({
  id: LetterId,
  /** `task:<id>:<attempt>` or `workflow:<id>:<attempt>`; absent without a task or workflow id. */
  dedupeKey: Schema.optional(Schema.String),
  source: Schema.String,
  taskType: Schema.String,
  taskId: Schema.optional(TaskId),
  workflow: Schema.optional(WorkflowRef),
  agent: Schema.optional(AgentId),
  /** Attempts made so far, including failed replays. */
  attempts: Schema.Int,
  /** The payload as persisted (after redaction, after a replay's patch). */
  payload: JsonValue,
  /** The latest failure (a failed replay replaces it). */
  error: FailureInfo,
  context: JsonObject,
  firstAttemptAt: Schema.Int,
  lastAttemptAt: Schema.Int,
  /** When the letter entered the queue (epoch milliseconds, Effect `Clock`). */
  createdAt: Schema.Int,
  /** How many replays were started and finished (successful or not). */
  replays: Schema.Int,
  resolution: Schema.optional(Resolution)
}).annotations({ identifier: "Letter" })

/**
 * @since 0.1.0
 * @category models
 */
export type Letter = typeof Letter.Type

/**
 * What `DeadLetterQueue.add` takes. Give a `taskId` or a `workflow` reference
 * and the same failure (same id and `attempt`) keeps one letter.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AddInput = Schema.Struct({
  ...DeadLetterFields,
  /** Who sent it (default "direct"). */
  source: Schema.optional(DeadLetterFields.source),
  /** The attempt that failed for good (default: `attempts`); part of the idempotency key. */
  attempt: Schema.optional(DeadLetterFields.attempt)
}).pipe(
  Schema.filter(attemptTimesIssue)
).annotations({ identifier: "AddInput" })

/**
 * @since 0.1.0
 * @category models
 */
export type AddInput = typeof AddInput.Encoded

/**
 * The idempotency key of an input, or undefined when it names no task or
 * workflow.
 *
 * @since 0.1.0
 * @category getters
 */
export const dedupeKeyOf = (input: typeof AddInput.Type): string | undefined => {
  const attempt = input.attempt ?? input.attempts
  if (input.taskId !== undefined) return `task:${input.taskId}:${attempt}`
  if (input.workflow !== undefined) return `workflow:${input.workflow.id}:${attempt}`
  return undefined
}

/**
 * What `add` returns: the letter, and whether it already existed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Added {
  readonly letter: Letter
  readonly duplicate: boolean
}

/**
 * The filter of `list` (and of `replayMany`). Letters are ordered by id, which
 * the default id generator makes time-ordered; `order` defaults to newest
 * first. `cursor` is the `nextCursor` of the previous page.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ListFilter = Schema.Struct({
  taskType: Schema.optional(StorableString),
  /** The error's tag. */
  errorType: Schema.optional(StorableString),
  agent: Schema.optional(StorableString),
  resolved: Schema.optional(Schema.Boolean),
  /** Letters created at or after this epoch millisecond. */
  since: Schema.optional(Schema.Int),
  /** Page size, 1–1000 (default 50). */
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
  cursor: Schema.optional(StorableString),
  order: Schema.optional(Schema.Literal("newest", "oldest"))
}).annotations({ identifier: "ListFilter" })

/**
 * @since 0.1.0
 * @category models
 */
export type ListFilter = typeof ListFilter.Type

/**
 * One page of `list`. `nextCursor` is absent on the last page.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly letters: ReadonlyArray<Letter>
  readonly nextCursor?: string
}

/**
 * A problem found in the store, e.g. a letter file that did not decode at
 * start and was moved aside.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Finding = Schema.Struct({
  kind: Schema.Literal("corrupt-file", "incomplete-write"),
  /** The file as found. */
  file: Schema.String,
  /** Where it was moved. */
  movedTo: Schema.String,
  reason: Schema.String,
  /** Epoch milliseconds. */
  at: Schema.Int
}).annotations({ identifier: "Finding" })

/**
 * @since 0.1.0
 * @category models
 */
export type Finding = typeof Finding.Type

/**
 * What `summary()` reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly total: number
  readonly unresolved: number
  readonly resolved: number
  /** Unresolved letters by task type. */
  readonly byTaskType: Readonly<Record<string, number>>
  /** Unresolved letters by error tag. */
  readonly byErrorType: Readonly<Record<string, number>>
  /** Milliseconds since the oldest unresolved letter entered the queue (undefined when none). */
  readonly oldestUnresolvedAgeMillis: number | undefined
  /** Problems found in the store (the file layer's corrupt files). */
  readonly findings: ReadonlyArray<Finding>
}

/**
 * The outcome of one replay: the handler succeeded (the letter is resolved)
 * or failed (the letter keeps its place with one more attempt and the new
 * error).
 *
 * @since 0.1.0
 * @category models
 */
export type ReplayResult<A, E> =
  | { readonly _tag: "Succeeded"; readonly letter: Letter; readonly result: A }
  | { readonly _tag: "Failed"; readonly letter: Letter; readonly failure: FailureInfo; readonly error: E | undefined }

/**
 * What `replayMany` reports: each letter it started, by outcome.
 *
 * - `succeeded`, `failed`: the handler's outcome, recorded on the letter;
 * - `skipped`: letters another replayer held, or that were resolved or
 *   removed meanwhile (their handler did not run);
 * - `claimLost`: letters whose handler ran but whose claim expired and was
 *   taken (by another replay, a manual `resolve` or a `purge`) before the
 *   outcome was recorded: that outcome is not stored (see `ClaimLost`).
 *
 * @since 0.1.0
 * @category models
 */
export const ReplayManyReport = Schema.Struct({
  succeeded: Schema.Array(LetterId),
  failed: Schema.Array(LetterId),
  skipped: Schema.Array(LetterId),
  claimLost: Schema.Array(LetterId)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplayManyReport extends Schema.Schema.Type<typeof ReplayManyReport> {}
