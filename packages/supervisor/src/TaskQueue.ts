/**
 * The task queue: the store contract the supervisor's rules run over. It
 * holds each task type's queued tasks in priority order (a lower number
 * first), then by age, and counts the running tasks of each concurrency
 * group, so that `take` never starts a task whose group is at its limit.
 * Everything it holds is a plain, storable `TaskRecord`.
 *
 * This release ships the memory layer (one process); a SQL layer shares
 * the same contract across processes. A layer of your own passes the
 * published suite in `@agentos/supervisor/Testing`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type { StoreError } from "./Errors.js"
import * as internal from "./internal/memoryQueue.js"
import type { TaskRecord } from "./Task.js"

/**
 * What `offer` did: queued the task (`depth` is its type's queued tasks
 * after it), or refused it because the type's queue holds `maxQueued`.
 *
 * @since 0.1.0
 * @category models
 */
export type OfferResult =
  | { readonly _tag: "Queued"; readonly depth: number }
  | { readonly _tag: "Full"; readonly depth: number }

/**
 * Concurrency limits of groups: at most `byGroup[key]` (else `default`)
 * tasks of one group key run at once; without either, a group is unlimited.
 * A task without a group key is never limited.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupLimits {
  readonly default?: number | undefined
  readonly byGroup?: Readonly<Record<string, number>> | undefined
}

/**
 * The queue's counts: queued tasks per type, queued and running per group.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueStats {
  readonly byType: Readonly<Record<string, number>>
  readonly byGroup: Readonly<Record<string, { readonly queued: number; readonly running: number }>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TaskQueueService {
  /**
   * Queues a task at the end of its priority in its type's queue, unless the
   * type already holds `maxQueued` queued tasks. `force` queues it past the
   * bound (a task already accepted, back for a retry).
   */
  readonly offer: (
    task: TaskRecord,
    options: { readonly maxQueued: number; readonly force?: boolean }
  ) => Effect.Effect<OfferResult, StoreError>
  /**
   * Takes the first queued task of `type` — lowest priority number, then
   * oldest — whose group is below its limit, and counts it as running in its
   * group. None when no such task is queued.
   */
  readonly take: (type: string, limits: GroupLimits) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
  /** A taken task stopped running (it ended, or waits for a retry): its group slot is free. */
  readonly finish: (id: string) => Effect.Effect<void, StoreError>
  /** Removes a queued task; false when it is not queued (running, finished or unknown). */
  readonly remove: (id: string) => Effect.Effect<boolean, StoreError>
  /** The queued tasks of one type. */
  readonly depth: (type: string) => Effect.Effect<number, StoreError>
  readonly stats: Effect.Effect<QueueStats, StoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TaskQueue extends Context.Tag("@agentos/supervisor/TaskQueue")<TaskQueue, TaskQueueService>() {}

/**
 * The queue in memory: one process, nothing persisted. Each type and group
 * keeps a list per priority, so `offer`, `take` and `remove` cost O(1) (plus
 * O(log p) for p priorities and groups present).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (): Layer.Layer<TaskQueue> => Layer.sync(TaskQueue, internal.make)

/**
 * The limit of a group under `limits`, or undefined when it is unlimited.
 *
 * @since 0.1.0
 * @category getters
 */
export const limitOf = (limits: GroupLimits, group: string): number | undefined =>
  limits.byGroup?.[group] ?? limits.default
