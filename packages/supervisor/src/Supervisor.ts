/**
 * The supervisor: one process delegating tasks to worker agents with
 * backpressure. Each task type has a bounded queue ordered by priority (a
 * lower number first), then age; a task that cannot be queued is refused at
 * once with `Backpressure` (or waits, with `submitWait`). Dispatch is event
 * driven — on every submit and every freed slot — to the least-loaded
 * capable worker, never above its `maxConcurrent`, never above a group's
 * concurrency limit, and never to a worker whose circuit breaker is open.
 *
 * @since 0.1.0
 */
import type * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type {
  Backpressure,
  InvalidInput,
  InvalidOptions,
  InvalidPayload,
  StoreError,
  SupervisorClosed,
  TaskError,
  TaskNotFound,
  UnknownTaskType
} from "./Errors.js"
import * as internal from "./internal/service.js"
import type { Snapshot, SubmitRequest, SupervisorEvent, TaskHandle, TaskStatus, TaskType, Worker } from "./Task.js"
import * as TaskQueue from "./TaskQueue.js"

/**
 * Why `submit` can refuse a task. Nothing was queued.
 *
 * @since 0.1.0
 * @category models
 */
export type SubmitError =
  | Backpressure
  | AdmissionPolicy.AdmissionRejected
  | AdmissionPolicy.AdmissionUnavailable
  | UnknownTaskType
  | InvalidPayload
  | InvalidInput
  | SupervisorClosed
  | StoreError

/**
 * @since 0.1.0
 * @category models
 */
export interface SupervisorService {
  /**
   * Validates the task, asks the admission policies and queues it, or fails
   * at once: `Backpressure` when its type's queue is full,
   * `AdmissionRejected` when a policy says no, `AdmissionUnavailable` when a
   * policy cannot decide (its store is down).
   */
  readonly submit: <R = unknown>(request: SubmitRequest<R>) => Effect.Effect<TaskHandle<R>, SubmitError>
  /**
   * As `submit`, but waits while the queue is full (until a queued task of
   * the type starts) or a policy rejects (until its `retryAfterMillis` or a
   * grant is settled) or cannot decide (until its `retryAfterMillis`, 1 s
   * by default), then asks again; after `timeout` it fails with the
   * last refusal (the timeout never cuts the queueing of a task already
   * granted). Without a timeout it waits as long as it takes.
   */
  readonly submitWait: <R = unknown>(
    request: SubmitRequest<R>,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<TaskHandle<R>, SubmitError>
  /** The task's status (kept for `results.retention` after it ends). */
  readonly status: (id: string) => Effect.Effect<TaskStatus, TaskNotFound | StoreError>
  /** Waits for the task's outcome; a result is decoded with its type's result schema. */
  readonly result: (id: string) => Effect.Effect<unknown, TaskError | TaskNotFound | StoreError>
  /** The handle of a known task. */
  readonly handle: (id: string) => Effect.Effect<TaskHandle<unknown>, TaskNotFound | StoreError>
  /** Cancels a task: a queued one is dropped, a running one interrupted. A no-op once it ended. */
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  /** Adds a worker; it starts taking queued tasks at once. */
  readonly addWorker: (worker: Worker) => Effect.Effect<void, InvalidInput>
  /** Removes a worker: it takes no new task and finishes its in-flight ones. */
  readonly removeWorker: (name: string) => Effect.Effect<void, InvalidInput>
  /** What a dashboard shows. */
  readonly snapshot: Effect.Effect<Snapshot, StoreError>
  /** Notable events (circuits, saturated queues, dead letters); a slow reader loses the oldest. */
  readonly events: Stream.Stream<SupervisorEvent>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Supervisor extends Context.Tag("@agentos/supervisor/Supervisor")<Supervisor, SupervisorService>() {}

/**
 * The supervisor's options; only `types` is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly types: ReadonlyArray<TaskType<any, any>>
  /** Workers registered at start (more with `addWorker`). */
  readonly workers?: ReadonlyArray<Worker>
  /** The bound of each type's queue, unless the type sets its own. Default 1,000. */
  readonly maxQueued?: number
  /** Concurrency limits per group key (see `TaskQueue.GroupLimits`). Default: unlimited. */
  readonly groupLimits?: TaskQueue.GroupLimits
  /**
   * Admission policies asked at submit, in order (with `AdmissionPolicy.all`);
   * a provided `AdmissionPolicy` service is asked after them.
   */
  readonly admission?: ReadonlyArray<AdmissionPolicy.AdmissionPolicyService>
  /**
   * The circuit breaker of each worker: it opens when, over its last
   * `windowSize` attempts (at least `minimumCalls`), the share of failures is
   * above `errorRateThreshold`; after `cooldown` it lets one trial task
   * through (half-open), and closes when the trial succeeds. Defaults 20, 5,
   * 0.5, 30 s.
   */
  readonly circuit?: {
    readonly windowSize?: number
    readonly minimumCalls?: number
    readonly errorRateThreshold?: number
    readonly cooldown?: Duration.DurationInput
  }
  /** How long and how many finished tasks are kept for `status`/`result`. Defaults 1 h, 10,000. */
  readonly results?: { readonly maxCount?: number; readonly retention?: Duration.DurationInput }
  /**
   * What closing the supervisor's scope does with accepted tasks: `drain`
   * runs them (queued ones too) for at most `timeout`, then cancels what is
   * left; `cancel` cancels them at once. `handBack` (a shared, durable queue
   * only: `shared` over `TaskQueue.layerSql`) lets the tasks running here
   * finish for at most `timeout` (`0` for none), then interrupts their
   * handlers and hands their tasks back to the queue — lease cleared, no
   * failure and no lost delivery counted — for another process or the next
   * start to run; queued tasks stay queued. Without `shared`, or over the
   * memory queue, `handBack` fails the layer with `InvalidOptions`.
   * Default drain, 30 s.
   */
  readonly shutdown?: {
    readonly mode?: "drain" | "cancel" | "handBack"
    readonly timeout?: Duration.DurationInput
  }
  /** A `QueueSaturated` event is published when a type's queue stays full this long. Default 10 s. */
  readonly queueSaturatedAfter?: Duration.DurationInput
  /** A span per task attempt, child of the submitter's span. Default true. */
  readonly tracing?: boolean
  /**
   * Share the queue with other supervisor processes (a `TaskQueue.layerSql`
   * on Postgres): tasks are claimed under a `lease` (default 30 s) renewed
   * every third of it while the handler runs; a runner that dies loses its
   * lease and the task runs again elsewhere, at most `maxDeliveries` times
   * (default 3) before it is dead-lettered as a poison task; new work is
   * noticed through the queue's notifications and a poll every
   * `pollInterval` (default 1 s), which also reclaims expired leases and
   * queues due retries. Results, statuses and cancels go through the queue,
   * so they work from any process. `holder` names this process in the
   * queue (default: `supervisor-<pid>-<random UUID>`).
   */
  readonly shared?: {
    readonly lease?: Duration.DurationInput
    readonly pollInterval?: Duration.DurationInput
    readonly maxDeliveries?: number
    readonly holder?: string
  }
}

/**
 * The supervisor over a `TaskQueue`. Uses core's `IdGenerator`,
 * `DeadLetters` and `AdmissionPolicy` when they are provided. Without
 * `shared` it keeps its tasks' lives in memory: what an earlier run left in
 * the queue is dropped when it is built (`TaskQueue.clear`, a `StoreError`
 * if that fails).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Supervisor, InvalidOptions | StoreError, TaskQueue.TaskQueue> =>
  Layer.scoped(Supervisor, Effect.flatMap(TaskQueue.TaskQueue, (queue) => internal.make(options, queue)))

/**
 * The supervisor sharing a SQL task queue (`TaskQueue.layerSql`) with other
 * processes: `shared` defaults apply when the options give none.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSql = (
  options: Options & { readonly queue?: TaskQueue.SqlOptions }
): Layer.Layer<Supervisor, InvalidOptions | StoreError, SqlClient.SqlClient> => {
  const { queue, ...rest } = options
  return Layer.provide(layer({ ...rest, shared: rest.shared ?? {} }), TaskQueue.layerSql(queue))
}

/**
 * The supervisor with the memory task queue.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options): Layer.Layer<Supervisor, InvalidOptions> =>
  Layer.provide(layer(options), TaskQueue.layerMemory()).pipe(
    // The memory queue never fails.
    Layer.catchAll((error) => error._tag === "StoreError" ? Layer.die(error) : Layer.fail(error))
  )
