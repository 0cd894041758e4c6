/**
 * The supervisor's data: task types, workers, the storable task record the
 * queue holds, task handles, statuses, the dashboard snapshot and the
 * events published for alerting.
 *
 * @since 0.1.0
 */
import * as Ids from "@agentos/core/Ids"
import type { JsonObject } from "@agentos/core/Json"
import { TokenUsage } from "@agentos/core/TokenUsage"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { TaskError } from "./Errors.js"

/**
 * Where a task is in its life. `completed`, `failed`, `cancelled` and
 * `dead-lettered` are terminal: a task reaches exactly one of them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskStatus = Schema.Literal(
  "queued",
  "running",
  "retrying",
  "completed",
  "failed",
  "cancelled",
  "dead-lettered"
)

/**
 * @since 0.1.0
 * @category models
 */
export type TaskStatus = typeof TaskStatus.Type

/**
 * Whether a status is terminal.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTerminal = (status: TaskStatus): boolean =>
  status === "completed" || status === "failed" || status === "cancelled" || status === "dead-lettered"

/**
 * A task's own retry policy, as plain values (so a queue can store it): at
 * most `maxAttempts` attempts, waiting `backoffMillis`, doubling each time
 * (capped at 60 s), between them. It replaces the type's `Schedule`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RetryOverride = Schema.Struct({
  maxAttempts: Schema.Int.pipe(Schema.between(1, 1_000)),
  backoffMillis: Schema.optional(Schema.Int.pipe(Schema.between(0, 86_400_000)))
}).annotations({ identifier: "RetryOverride" })

/**
 * @since 0.1.0
 * @category models
 */
export type RetryOverride = typeof RetryOverride.Type

/**
 * The backoff base of a `RetryOverride` without one.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBackoffMillis = 100

/**
 * The schedule of a retry override: `maxAttempts - 1` retries, exponential
 * from `backoffMillis`, each delay capped at 60 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const overrideSchedule = (retry: RetryOverride): Schedule.Schedule<unknown, unknown> =>
  Schedule.intersect(
    Schedule.modifyDelay(
      Schedule.exponential(Duration.millis(retry.backoffMillis ?? defaultBackoffMillis)),
      (delay) => Duration.min(delay, Duration.seconds(60))
    ),
    Schedule.recurs(retry.maxAttempts - 1)
  )

/**
 * What a caller submits. `priority`: a lower number runs first (the number
 * core's `AdmissionRequest.priority` carries), 0 by default. `agentId` and
 * `estimatedTokens` are for admission policies; `groupKey` puts the task in
 * a concurrency group (an agent, a tenant, a provider); `idempotencyKey`
 * makes a second submit with the same key return the first task's handle
 * (while that task is known: queued, running or its result still kept).
 * `timeoutMillis` and `retry` override the type's defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubmitRequest<R = unknown> {
  readonly type: string | TaskType<any, R>
  readonly payload: unknown
  readonly priority?: number
  readonly agentId?: string
  readonly estimatedTokens?: number
  readonly groupKey?: string
  readonly idempotencyKey?: string
  readonly timeoutMillis?: number
  readonly retry?: RetryOverride
}

/**
 * A trace position carried from submit to the handler's span.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TraceParent = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String
}).annotations({ identifier: "TraceParent" })

/**
 * The task as the queue holds it: plain, storable values. `payload` is the
 * payload as submitted (the encoded side of the type's payload schema),
 * `seq` the queue's order of arrival (age), `grantId` the admission grant
 * to settle when the task ends. `usage` is the token usage its handler
 * reported in a process it left before ending (a retry or a hand-back on a
 * shared queue): the process that ends the task commits it with the rest.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskRecord = Schema.Struct({
  id: Ids.TaskId,
  type: Schema.String,
  payload: Schema.Unknown,
  priority: Schema.Int,
  agentId: Schema.optional(Ids.AgentId),
  estimatedTokens: Schema.optional(Schema.NonNegativeInt),
  groupKey: Schema.optional(Schema.String),
  idempotencyKey: Schema.optional(Schema.String),
  timeoutMillis: Schema.optional(Schema.Int),
  retry: Schema.optional(RetryOverride),
  grantId: Schema.optional(Schema.String),
  usage: Schema.optional(TokenUsage),
  trace: Schema.optional(TraceParent),
  submittedAt: Schema.Int
}).annotations({ identifier: "TaskRecord" })

/**
 * @since 0.1.0
 * @category models
 */
export type TaskRecord = typeof TaskRecord.Type

/**
 * A registered kind of task: its payload and result schemas (synchronous
 * ones: they run on the dispatch path), its default timeout and retry
 * policy, and the bound of its queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskType<P, R> {
  readonly name: string
  readonly payload: Schema.Schema<P, any>
  readonly result: Schema.Schema<R, any>
  /** Default 60 s. */
  readonly timeout: Duration.Duration
  /** Retries after a failed attempt; the input is the failure. Default: none. */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** The most tasks of this type queued at once (not running); undefined: the supervisor's `maxQueued`. */
  readonly maxQueued: number | undefined
}

/**
 * Defines a task type.
 *
 * @since 0.1.0
 * @category constructors
 */
export const taskType = <P, PI, R, RI>(name: string, options: {
  readonly payload: Schema.Schema<P, PI>
  readonly result: Schema.Schema<R, RI>
  readonly timeout?: Duration.DurationInput
  readonly retry?: Schedule.Schedule<unknown, unknown>
  readonly maxQueued?: number
}): TaskType<P, R> => ({
  name,
  payload: options.payload,
  result: options.result,
  timeout: Duration.decode(options.timeout ?? Duration.seconds(60)),
  retry: options.retry ?? Schedule.stop,
  maxQueued: options.maxQueued
})

/**
 * What a handler is given beside its payload.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskContext {
  readonly taskId: Ids.TaskId
  readonly taskType: string
  /** 1 for the first attempt. */
  readonly attempt: number
  readonly agentId: Ids.AgentId | undefined
  readonly groupKey: string | undefined
  readonly worker: string
  /**
   * Reports token usage the task spent (add as many calls as it made). The
   * task's admission grant is committed with the sum when it ends.
   */
  readonly reportUsage: (usage: TokenUsage) => Effect.Effect<void>
}

/**
 * A worker: a name, the task types it takes, how many tasks it runs at once
 * and its handler (it receives the decoded payload of any of its types).
 *
 * @since 0.1.0
 * @category models
 */
export interface Worker {
  readonly name: string
  readonly taskTypes: ReadonlyArray<string>
  readonly maxConcurrent: number
  readonly handler: (payload: any, context: TaskContext) => Effect.Effect<unknown, unknown>
}

/**
 * A worker for one task type, with a typed handler.
 *
 * @since 0.1.0
 * @category constructors
 */
export const worker = <P, R>(
  type: TaskType<P, R>,
  options: {
    readonly name: string
    readonly maxConcurrent: number
    readonly handler: (payload: P, context: TaskContext) => Effect.Effect<R, unknown>
  }
): Worker => ({
  name: options.name,
  taskTypes: [type.name],
  maxConcurrent: options.maxConcurrent,
  handler: options.handler
})

/**
 * A submitted task. `await` waits for its outcome, `poll` looks without
 * waiting, `cancel` cancels it (a no-op once it ended).
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskHandle<R> {
  readonly id: Ids.TaskId
  readonly await: Effect.Effect<R, TaskError>
  readonly poll: Effect.Effect<Option.Option<Exit.Exit<R, TaskError>>>
  readonly cancel: Effect.Effect<void>
}

/**
 * A circuit breaker's state: `closed` (takes tasks), `open` (takes none
 * until its cooldown ends), `half-open` (takes one trial task).
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = "closed" | "open" | "half-open"

/**
 * A worker in the dashboard snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerSnapshot {
  readonly name: string
  readonly taskTypes: ReadonlyArray<string>
  /** idle, busy, overloaded (above 80% of its slots), or removing (finishing its in-flight tasks). */
  readonly state: "idle" | "busy" | "overloaded" | "removing"
  readonly circuit: CircuitState
  readonly inFlight: number
  readonly maxConcurrent: number
  /** inFlight / maxConcurrent. */
  readonly load: number
  readonly completed: number
  readonly errors: number
  /** Mean duration of its finished attempts, 0 before the first. */
  readonly averageLatencyMillis: number
}

/**
 * What a dashboard shows.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** Share of all workers' slots in use (0–1); 1 without workers. */
  readonly load: number
  readonly queueDepth: Readonly<Record<string, number>>
  readonly groups: Readonly<Record<string, { readonly queued: number; readonly running: number }>>
  readonly running: number
  readonly workers: ReadonlyArray<WorkerSnapshot>
}

/**
 * A notable event, published on `events` for alerting.
 *
 * @since 0.1.0
 * @category models
 */
export type SupervisorEvent =
  | { readonly _tag: "CircuitOpened"; readonly worker: string; readonly errorRate: number }
  | { readonly _tag: "CircuitHalfOpen"; readonly worker: string }
  | { readonly _tag: "CircuitClosed"; readonly worker: string }
  | { readonly _tag: "QueueSaturated"; readonly taskType: string; readonly fullForMillis: number }
  | {
    readonly _tag: "TaskDeadLettered"
    readonly taskId: Ids.TaskId
    readonly taskType: string
    readonly letterId: string
  }
  | {
    readonly _tag: "DeadLetterFailed"
    readonly taskId: Ids.TaskId
    readonly taskType: string
    readonly message: string
  }
  | { readonly _tag: "GrantSettleFailed"; readonly taskId: Ids.TaskId; readonly message: string }

/**
 * Context stored with a dead letter (what the task was, where it ran).
 *
 * @since 0.1.0
 * @category models
 */
export type DeadLetterContext = JsonObject
