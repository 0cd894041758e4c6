/**
 * The task queue: the store contract the supervisor's rules run over. It
 * holds each task type's queued tasks in priority order (a lower number
 * first), then by age, and counts the running tasks of each concurrency
 * group, so that `take` never starts a task whose group is at its limit.
 * Everything it holds is a plain, storable `TaskRecord`.
 *
 * Two protocols share the queue. `take` / `finish` serve one process that
 * keeps its tasks' lives in memory (the in-process supervisor; `clear`
 * drops what an earlier such process left). `claim`, `renew`, `retry`,
 * `release` and `end` serve many processes: a task is claimed under a lease
 * with a fencing token, the lease is renewed while its handler runs, and
 * only the holder of the current token can record the task's retry, its
 * hand-back or its end. `reclaim` returns the tasks of runners whose lease
 * expired (a lost delivery, counted apart from handler failures) and turns
 * a task that lost `maxDeliveries` deliveries into a poison task. Every
 * ended task keeps a terminal record (`status`) until `purge` drops it.
 *
 * `layerMemory` serves one process; `layerSql` (SQLite for one process,
 * Postgres for many) judges leases by the database's clock. A layer of your
 * own passes the published suite in `@agentos/supervisor/Testing`.
 *
 * @since 0.1.0
 */
import type { TokenUsage } from "@agentos/core/TokenUsage"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { StoreError } from "./Errors.js"
import * as internal from "./internal/memoryQueue.js"
import * as sqlQueue from "./internal/sqlQueue.js"
import type { TaskRecord, TaskStatus } from "./Task.js"

/**
 * What `offer` did: queued the task (`depth` is its type's queued tasks
 * after it), or refused it because the type's queue holds `maxQueued`, or
 * did not queue it because a task the queue keeps (queued, running,
 * retrying, or ended and not yet purged) was offered with the same
 * idempotency key: `id` is that task's.
 *
 * @since 0.1.0
 * @category models
 */
export type OfferResult =
  | { readonly _tag: "Queued"; readonly depth: number }
  | { readonly _tag: "Full"; readonly depth: number }
  | { readonly _tag: "Duplicate"; readonly id: string }

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
 * What `claim` is asked: the type, the group limits, who claims (a
 * process's name, for operators) and the lease's length.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClaimOptions {
  readonly limits: GroupLimits
  readonly holder: string
  readonly leaseMillis: number
}

/**
 * A claimed task: its record, the lease's fencing token (needed by `renew`,
 * `retry`, `release` and `end`), how many times it has been delivered (this
 * one included), how many of those deliveries were lost to a runner that
 * died (`lostDeliveries`), how many attempts failed in a handler
 * (`failures`), and whether it is a poison task: it lost `maxDeliveries`
 * deliveries, so it must not run again but be dead-lettered and ended.
 * A task asked to cancel is never claimed: the queue ends it (see `retry`,
 * `release` and `reclaim`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Claim {
  readonly record: TaskRecord
  readonly token: number
  readonly deliveries: number
  readonly lostDeliveries: number
  readonly failures: number
  readonly poisoned: boolean
}

/**
 * What `retry` and `release` did with a claimed task: it waits in the queue
 * again (`Retrying` after a failure, `Released` when handed back), or it was
 * ended as cancelled because a cancel was asked while it ran (`Cancelled`:
 * the caller settles its admission grant and reports the cancel), or
 * nothing changed because the lease was lost (`Lost`).
 *
 * @since 0.2.0
 * @category models
 */
export type RequeueResult =
  | { readonly _tag: "Retrying" }
  | { readonly _tag: "Released" }
  | { readonly _tag: "Cancelled" }
  | { readonly _tag: "Lost" }

/**
 * What `renew` found: the lease was extended (and whether someone asked to
 * cancel the task), or it is lost — another runner holds the task or it has
 * ended — and its runner must stop without recording anything.
 *
 * @since 0.2.0
 * @category models
 */
export type RenewResult =
  | { readonly _tag: "Renewed"; readonly cancelRequested: boolean }
  | { readonly _tag: "Lost" }

/**
 * How a task ended, as stored: a completed task keeps its encoded result,
 * any other its encoded error (JSON values).
 *
 * @since 0.2.0
 * @category models
 */
export type Outcome =
  | { readonly status: "completed"; readonly result: unknown }
  | { readonly status: "failed" | "cancelled" | "dead-lettered"; readonly error: unknown }

/**
 * A task as the queue knows it. `finishedAt` (epoch milliseconds, by the
 * store's clock) and `outcome` once it has ended.
 *
 * @since 0.2.0
 * @category models
 */
export interface StoredTask {
  readonly record: TaskRecord
  readonly status: TaskStatus
  readonly deliveries: number
  readonly lostDeliveries: number
  readonly failures: number
  readonly cancelRequested: boolean
  readonly outcome?: Outcome | undefined
  readonly finishedAt?: number | undefined
}

/**
 * What `cancel` did: a queued or retrying task is ended as cancelled at
 * once; a running one is marked, and its runner ends it when it next renews
 * its lease (or `reclaim` does, if that runner died); an ended one is left.
 * `Cancelled` carries the task's record: the caller settles its admission
 * grant.
 *
 * @since 0.2.0
 * @category models
 */
export type CancelResult =
  | { readonly _tag: "Cancelled"; readonly record: TaskRecord }
  | { readonly _tag: "Requested" }
  | { readonly _tag: "Ended"; readonly status: TaskStatus }
  | { readonly _tag: "NotFound" }

/**
 * What `reclaim` did: tasks whose lease expired went back to the queue
 * (`requeued`), or became poison tasks after `maxDeliveries` lost
 * deliveries (`poisoned`, queued to be dead-lettered); retrying tasks whose
 * delay is over were queued again (`due`). `cancelledTasks` are the records
 * of the tasks it ended as cancelled because a cancel was asked (a running
 * task whose runner died, or a retrying one): no runner will end them, so
 * the caller settles their admission grants.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReclaimResult {
  readonly requeued: number
  readonly poisoned: number
  readonly due: number
  readonly cancelledTasks: ReadonlyArray<TaskRecord>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TaskQueueService {
  /**
   * Queues a task at the end of its priority in its type's queue, unless the
   * type already holds `maxQueued` queued tasks. `force` queues it past the
   * bound (a task already accepted, back for a retry). A task with an
   * idempotency key that a kept task of another id holds is not queued:
   * `Duplicate` (checked before the bound; a SQL queue keeps the keys
   * unique in the database, across processes).
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
  /**
   * The id of the task the queue keeps (queued, running, retrying, or ended
   * and not yet purged) that holds an idempotency key; none when no kept
   * task holds it.
   */
  readonly keyHolder: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** Removes a queued task; false when it is not queued (running, finished or unknown). */
  readonly remove: (id: string) => Effect.Effect<boolean, StoreError>
  /**
   * Drops every task the one-process protocol (`take` / `finish`) can have
   * left behind: queued tasks, and tasks taken without a lease. A supervisor
   * without `shared` calls it once when it is built (an earlier run's
   * tasks are not its own) and releases the admission grants of the records
   * it returns; never called on a shared queue. Returns the records it
   * dropped.
   */
  readonly clear: Effect.Effect<ReadonlyArray<TaskRecord>, StoreError>
  /** The queued tasks of one type. */
  readonly depth: (type: string) => Effect.Effect<number, StoreError>
  readonly stats: Effect.Effect<QueueStats, StoreError>
  /**
   * Claims the first queued task of `type` (as `take` picks it) under a
   * lease of `leaseMillis` with a new fencing token, counting it as running
   * in its group. None when no such task is queued.
   */
  readonly claim: (type: string, options: ClaimOptions) => Effect.Effect<Option.Option<Claim>, StoreError>
  /** Extends a claimed task's lease to now + `leaseMillis` while `token` is its current token. */
  readonly renew: (id: string, token: number, leaseMillis: number) => Effect.Effect<RenewResult, StoreError>
  /**
   * A claimed task's attempt failed in its handler and is retried: while
   * `token` is its current token, it counts one more failure and waits
   * `delayMillis` as `retrying` (its group slot is free), until `reclaim`
   * queues it again (`Retrying`). When a cancel was asked while the attempt
   * ran, it ends as cancelled at once instead (`Cancelled`, one more failure
   * counted). `Lost`, changing nothing, when the lease was lost. `usage`,
   * when given, becomes the record's `usage` (the task's usage so far,
   * carried to the runner that ends it), in either of the first two cases.
   */
  readonly retry: (
    id: string,
    token: number,
    delayMillis: number,
    usage?: TokenUsage
  ) => Effect.Effect<RequeueResult, StoreError>
  /**
   * Hands a claimed task back while `token` is its current token: it is
   * queued again at its place (priority, then age) for any runner, its
   * lease cleared, counting neither a handler failure nor a lost delivery
   * (`Released`). When a cancel was asked, it ends as cancelled instead
   * (`Cancelled`). `Lost`, changing nothing, when the lease was lost.
   * `usage` as for `retry`.
   */
  readonly release: (id: string, token: number, usage?: TokenUsage) => Effect.Effect<RequeueResult, StoreError>
  /**
   * Records a claimed task's end while `token` is its current token: its
   * terminal status and outcome are kept until `purge`. A `failed` or
   * `dead-lettered` end of a task that is not poisoned counts one more
   * handler failure. False, changing nothing, when the lease was lost.
   */
  readonly end: (id: string, token: number, outcome: Outcome) => Effect.Effect<boolean, StoreError>
  /**
   * `end`, then `claim` of the next task of `type`, in one step (one
   * statement on Postgres): a runner whose task ended takes its next one
   * without a second round trip. `ended` is
   * what `end` answered; the claim is made either way.
   */
  readonly endThenClaim: (
    ended: { readonly id: string; readonly token: number; readonly outcome: Outcome },
    type: string,
    options: ClaimOptions
  ) => Effect.Effect<{ readonly ended: boolean; readonly next: Option.Option<Claim> }, StoreError>
  /**
   * Returns expired leases' tasks to the queue (one more lost delivery
   * each; poison after `maxDeliveries` lost ones; cancelled when a cancel was
   * asked), ends retrying tasks asked to cancel, and queues retrying tasks
   * whose delay is over. Judged by the store's clock (the database's, on SQL).
   */
  readonly reclaim: (options: { readonly maxDeliveries: number }) => Effect.Effect<ReclaimResult, StoreError>
  /** Cancels a task by id, from any process (see `CancelResult`). */
  readonly cancel: (id: string) => Effect.Effect<CancelResult, StoreError>
  /** A task by id: queued, running, retrying, or ended and not yet purged. */
  readonly status: (id: string) => Effect.Effect<Option.Option<StoredTask>, StoreError>
  /**
   * Drops ended tasks that ended `retentionMillis` or more ago, then the
   * oldest ended ones beyond `maxCount`; returns how many it dropped.
   */
  readonly purge: (
    options: { readonly retentionMillis: number; readonly maxCount: number }
  ) => Effect.Effect<number, StoreError>
  /**
   * The types with new queued work, as other processes announce it
   * (Postgres LISTEN/NOTIFY). Best effort: a notification can be lost, so a
   * reader polls as well. Empty for a store that serves one process.
   */
  readonly notifications: Stream.Stream<string>
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
 * Options of `layerSql`.
 *
 * @since 0.2.0
 * @category models
 */
export interface SqlOptions {
  /**
   * Listen for the new work of other processes (Postgres LISTEN/NOTIFY,
   * when the `SqlClient` is `@effect/sql-pg`'s). Default true.
   */
  readonly notifications?: boolean
  /**
   * On Postgres (`@effect/sql-pg`), run the claim and end statements as
   * named prepared statements: parsed and planned once a connection. Turn
   * it off behind a connection pooler in transaction mode that does not
   * keep prepared statements (PgBouncer before 1.21, or without
   * `max_prepared_statements`). Default true.
   */
  readonly preparedStatements?: boolean
}

/**
 * The queue on `SqlClient`: SQLite for one process, Postgres for many. It
 * runs its own migrations (`agentos_supervisor_migrations`, table
 * `agentos_supervisor_tasks`). Claims use `FOR UPDATE SKIP LOCKED` on
 * Postgres; leases, retry delays and retention follow the database's clock;
 * a limited group's running count and a type's queue bound are checked
 * under Postgres advisory locks in the claiming or offering transaction.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSql = (options: SqlOptions = {}): Layer.Layer<TaskQueue, StoreError, SqlClient.SqlClient> =>
  Layer.effect(TaskQueue, sqlQueue.make(options))

/**
 * The limit of a group under `limits`, or undefined when it is unlimited.
 *
 * @since 0.1.0
 * @category getters
 */
export const limitOf = (limits: GroupLimits, group: string): number | undefined =>
  limits.byGroup?.[group] ?? limits.default
