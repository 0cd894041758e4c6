// The agent team: every research run is a supervisor task of type `research`
// (grouped by agent, admitted by the token budget's policy with its estimate
// and by the router's spend policy), whose handler runs the checkpointed
// workflow. The supervisor does not retry a failed run: the checkpoint engine
// is the one layer that retries steps and dead-letters a failed workflow.
//
// The tasks live in the supervisor's durable queue (`TaskQueue.layerSql`, on
// the service's SQLite file or Postgres), shared by every instance on the same
// database: a task accepted is in the queue before the 202 is sent. Restart
// safety comes from the queue:
//   - queued tasks stay queued across a stop, and any instance runs them;
//   - at a stop (the supervisor's `shutdown.mode: "handBack"`), the runs in
//     flight get the drain's grace period; the ones still going then are
//     interrupted and their tasks released to the queue (no failure, no lost
//     delivery counted), and each workflow resumes from its checkpoint
//     wherever it runs next;
//   - a crashed instance's tasks come back when their lease expires. A task
//     whose runners keep dying ends as a poison task (`TaskPoisoned`): the
//     instance that ends it marks its workflow failed with that cause and
//     writes the workflow's dead letter, so it can be retried or replayed —
//     none vanish. If that instance dies first, the poison sweep (every
//     instance, at start and periodically) marks it: no workflow is left
//     `running` with nobody to run it.
// A task's id is its workflow's id (a retry of a workflow is a new task).
// Finished tasks are kept for `AGENTOS_TASK_RETENTION`, then purged by the
// supervisor's poll.
import { CheckpointStore, WorkflowEngine } from "@agentos/checkpoint"
import type { Checkpoint } from "@agentos/checkpoint"
import type { AdmissionPolicy } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import type { Letter } from "@agentos/dlq"
import type { AgentMemory } from "@agentos/memory"
import { SharedState } from "@agentos/state"
import { Supervisor, Task, TaskQueue } from "@agentos/supervisor"
import type { Errors as SupervisorErrors } from "@agentos/supervisor"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import {
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  HashSet,
  Layer,
  Metric,
  Option,
  ParseResult,
  Ref,
  Schedule,
  Schema
} from "effect"
import * as Api from "./Api.js"
import type { AppConfig } from "./Config.js"
import { TaskUsage } from "./Models.js"
import { research } from "./Research.js"

/** What a research run is expected to spend (the budget's admission reserves it). */
export const ESTIMATED_TOKENS = 4_000

export const TASK_TYPES = ["research"] as const

/**
 * The shared-state key naming the retry task that last started a workflow
 * (its handler writes it before the engine runs the workflow): the poison
 * sweep's way from a workflow to its current task. Under `demo/`, which the
 * API does not let a client write.
 */
const runIndexKey = (workflowId: string) => `demo/runs/${workflowId}`

/** How many `running` workflows one poison sweep looks at. */
const SWEEP_BATCH = 100

/** The name of the team's worker in the supervisor. */
export const WORKER = "researchers"

/**
 * A research task's payload, as the queue stores it. `workflowId` is absent
 * for a new run (its workflow takes the task's id) and names the workflow a
 * retry runs again.
 */
const TaskPayload = Schema.Struct({
  topic: Schema.String,
  agent: Schema.String,
  mode: Schema.Literal("execute", "retry"),
  workflowId: Schema.optional(Schema.String),
  /**
   * A retry's view of its workflow's checkpoint when the retry was accepted:
   * its status and its epoch (the fencing epoch of the lease that last saved
   * it, which the database raises at every lease taken, whichever instance
   * takes it). A cancel saved after the acceptance leaves a checkpoint with a
   * greater epoch, and wins over the retry. (A payload of an earlier version
   * carried `acceptedAt`, a wall-clock time; it is ignored.)
   */
  seen: Schema.optional(Schema.Struct({ status: Schema.String, epoch: Schema.Number }))
})
type TaskPayload = typeof TaskPayload.Type
const decodePayload = Schema.decodeUnknownOption(TaskPayload)

/**
 * Whether a retry's workflow was cancelled after the retry was accepted: it
 * is cancelled now, and its checkpoint was saved since the retry saw it (a
 * greater epoch), or it was not cancelled then. A payload without `seen`
 * (an earlier version's) runs its retry.
 */
export const cancelledAfter = (
  checkpoint: Pick<Checkpoint.Checkpoint, "status" | "epoch">,
  seen: TaskPayload["seen"]
): boolean =>
  checkpoint.status === "cancelled" && seen !== undefined &&
  (seen.status !== "cancelled" || checkpoint.epoch > seen.epoch)

/** What a poison task's stored outcome says of its deliveries (`TaskPoisoned`, encoded). */
interface PoisonFields {
  readonly deliveries: number
  readonly lostDeliveries: number
  readonly failures: number
}

const poisonOf = (outcome: TaskQueue.Outcome): PoisonFields | undefined => {
  if (outcome.status === "completed") return undefined
  const error = outcome.error as { readonly _tag?: unknown } & Partial<Record<keyof PoisonFields, unknown>>
  if (typeof error !== "object" || error === null || error._tag !== "TaskPoisoned") return undefined
  const int = (n: unknown) => typeof n === "number" && Number.isFinite(n) ? n : 0
  return { deliveries: int(error.deliveries), lostDeliveries: int(error.lostDeliveries), failures: int(error.failures) }
}

/**
 * A task that ended without its workflow recording the end: the workflow is
 * left `running` (or never started) with no cause and no dead letter. A
 * poison task never reached a handler; a failed one failed outside the
 * engine's steps (its store unreachable longer than the handler retries, a
 * write before the engine ran), where the engine records nothing.
 */
interface Orphan {
  readonly error: { readonly tag: string; readonly message: string }
  /** The dead letter's `attempts` and `context`. */
  readonly attempts: number
  readonly context: Record<string, string | number>
  /** A poison task's end is counted when its workflow is marked (its handler never ran, never counted it). */
  readonly count: boolean
}

const orphanOf = (taskId: string, outcome: TaskQueue.Outcome): Orphan | undefined => {
  const poison = poisonOf(outcome)
  if (poison !== undefined) {
    return {
      error: {
        tag: "TaskPoisoned",
        message: `task ${taskId} is a poison task: ${poison.lostDeliveries} of its ${poison.deliveries} ` +
          `deliveries were lost to runners that died`
      },
      attempts: Math.max(1, poison.deliveries - 1),
      context: {
        cause: "lost-deliveries",
        deliveries: poison.deliveries,
        lostDeliveries: poison.lostDeliveries,
        failures: poison.failures
      },
      count: true
    }
  }
  // A cancelled task's workflow never started, or was cancelled through the engine.
  if (outcome.status === "completed" || outcome.status === "cancelled") return undefined
  // The supervisor stores a TaskFailed whose `error` is the handler's failure, encoded. A failed
  // step and a cancel are the engine's own ends: it recorded them in the checkpoint.
  const failed = outcome.error as { readonly error?: { readonly tag?: unknown; readonly message?: unknown } }
  const tag = typeof failed?.error?.tag === "string" ? failed.error.tag : "TaskFailed"
  if (tag === "StepFailed" || tag === "WorkflowCancelled") return undefined
  const message = typeof failed?.error?.message === "string" ? failed.error.message : "the task failed"
  return {
    error: { tag, message: `task ${taskId} failed outside the workflow's steps: ${message}` },
    attempts: 1,
    context: { cause: "task-failed" },
    count: false
  }
}

/** Whether a failure is a store's (`StoreError`, from any package): the database unreachable, most often. */
const isStoreError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "StoreError"

/**
 * How long a run waits out its stores' failures before its task fails: from
 * 0.5 s, doubling, at most 5 s apart, 12 times (about a minute) — longer
 * than a database restart.
 */
const storeRetry = Schedule.exponential(Duration.millis(500)).pipe(
  Schedule.modifyDelay((delay) => Duration.min(delay, Duration.seconds(5))),
  Schedule.intersect(Schedule.recurs(12))
)

/** The `research` task type: its queue holds at most `maxQueued` tasks (more: 429 backpressure). */
export const researchTask = (maxQueued: number) =>
  Task.taskType("research", {
    payload: TaskPayload,
    result: Schema.Struct({ workflowId: Schema.String, report: Schema.String }),
    timeout: "10 minutes",
    // No retry: the engine retried the steps. A run stopped by a shutdown is handed back, not failed.
    maxQueued
  })

export type SubmitError =
  | Api.UnknownTaskType
  | Api.InvalidRequest
  | Api.TooManyRequests
  | Api.Unavailable
  | Api.InternalError

export interface Counts {
  readonly accepted: number
  readonly completed: number
  readonly failed: number
  readonly refused: number
}

export class Team extends Context.Tag("@agentos/demo/Team")<Team, {
  readonly agents: ReadonlyArray<string>
  readonly submit: (request: typeof Api.SubmitTask.Type) => Effect.Effect<typeof Api.Accepted.Type, SubmitError>
  readonly task: (id: string) => Effect.Effect<typeof Api.TaskView.Type, Api.NotFound | Api.InternalError>
  /**
   * Cancels a task: a queued one through the supervisor (it ends cancelled,
   * its grant released), a running one through its workflow (the engine
   * stops it at its next step; the task then ends cancelled). An ended task
   * is `InvalidState` and an unknown one `NotFound`, with nothing changed.
   */
  readonly cancel: (
    id: string
  ) => Effect.Effect<typeof Api.TaskCancel.Type, Api.NotFound | Api.InvalidState | Api.InternalError>
  readonly retry: (workflowId: string) => Effect.Effect<
    typeof Api.Accepted.Type,
    Api.NotFound | Api.InvalidState | SubmitError
  >
  readonly replay: (letterId: string) => Effect.Effect<
    typeof Api.ReplayResult.Type,
    Api.NotFound | Api.InvalidState | Api.InvalidRequest | Api.InternalError
  >
  /** Submits a research run and waits for its report (the benchmark's unit of work). */
  readonly run: (
    payload: typeof Api.ResearchPayload.Type
  ) => Effect.Effect<string, SubmitError | SupervisorErrors.TaskError>
  readonly ready: Effect.Effect<boolean>
  /** What this instance counted since it started. */
  readonly counts: Effect.Effect<Counts>
  /**
   * One poison sweep (the team runs one at start and then periodically):
   * workflows left `running` whose current task ended poisoned are marked
   * failed with their dead letter. Returns how many this call marked.
   */
  readonly sweepPoisoned: Effect.Effect<number, Api.InternalError>
  readonly supervisor: Supervisor.SupervisorService
}>() {}

const tasksTotal = Metric.counter("agentos_demo_tasks_total", {
  description: "Research tasks by outcome: accepted, refused, completed, failed, poisoned"
})

const internal = (operation: string) => (error: { readonly message?: string; readonly _tag: string }) =>
  new Api.InternalError({ message: `${operation}: ${error._tag}${error.message ? `: ${error.message}` : ""}` })

const TOPICS = [
  "agent runtimes in production",
  "backpressure in LLM pipelines",
  "token budgets for agent teams",
  "memory decay for long-running agents",
  "checkpointing agent workflows",
  "routing requests to cheaper models",
  "dead letter queues for AI tasks",
  "optimistic locking for shared agent state"
]

/** A stored task as the API shows it: the queue's seven statuses folded into the API's four. */
const view = (stored: TaskQueue.StoredTask): typeof Api.TaskView.Type | undefined => {
  const payload = decodePayload(stored.record.payload)
  if (Option.isNone(payload)) return undefined
  const outcome = stored.outcome
  let status: typeof Api.TaskStatus.Type = "accepted"
  let error: string | undefined
  if (outcome !== undefined && outcome.status !== "completed") {
    // The supervisor stores a TaskFailed (its `error` is the handler's failure) or a TaskCancelled.
    const stored = outcome.error as {
      readonly _tag?: string
      readonly reason?: string
      readonly error?: { readonly tag?: string; readonly message?: string }
    }
    const tag = stored.error?.tag ?? stored._tag ?? "Error"
    const poison = poisonOf(outcome)
    error = `${tag}: ${
      stored.error?.message ?? stored.reason ??
        (poison === undefined ? "" : `${poison.lostDeliveries} deliveries lost to runners that died`)
    }`
    status = outcome.status === "cancelled" || tag === "WorkflowCancelled" ? "cancelled" : "failed"
  } else if (outcome?.status === "completed") {
    status = "completed"
  }
  return {
    id: stored.record.id,
    type: stored.record.type,
    status,
    agent: payload.value.agent,
    topic: payload.value.topic,
    workflowId: payload.value.workflowId ?? stored.record.id,
    submittedAt: stored.record.submittedAt,
    ...(stored.finishedAt === undefined || status === "accepted" ? {} : { finishedAt: stored.finishedAt }),
    ...(error === undefined ? {} : { error })
  }
}

/**
 * The team's layer: the supervisor over the durable task queue (admission by
 * the budget's and the router's policies), its `research` worker, the
 * shutdown handoff and, unless turned off, the built-in team submitting
 * steady work.
 */
export const layer = (
  config: AppConfig,
  policies: ReadonlyArray<AdmissionPolicy.AdmissionPolicyService>
) =>
  Layer.scoped(
    Team,
    Effect.gen(function*() {
      const engine = yield* WorkflowEngine.WorkflowEngine
      const dlq = yield* DeadLetterQueue.DeadLetterQueue
      const queue = yield* TaskQueue.TaskQueue
      const store = yield* CheckpointStore.CheckpointStore
      const services = yield* Effect.context<
        LanguageModel.LanguageModel | AgentMemory.AgentMemory | SharedState.SharedState
      >()
      const state = Context.get(services, SharedState.SharedState)
      const counts = yield* Ref.make<Counts>({ accepted: 0, completed: 0, failed: 0, refused: 0 })
      const ready = yield* Ref.make(false)
      const count = (key: keyof Counts, outcome: string = key) =>
        Effect.zipRight(
          Ref.update(counts, (c) => ({ ...c, [key]: c[key] + 1 })),
          Metric.increment(Metric.tagged(tasksTotal, "outcome", outcome))
        )
      const knownAgents = HashSet.fromIterable(config.agents)
      const wait = { onBusy: "wait" as const, waitTimeout: Duration.times(config.leaseTtl, 3) }

      // A retry runs a failed or cancelled workflow again from its failed step; a run handed back
      // mid-way (or a completed one) resumes from its checkpoint (a completed one returns at once).
      const runWorkflow = (payload: TaskPayload, workflowId: string) =>
        Effect.gen(function*() {
          if (payload.mode === "retry") {
            const checkpoint = yield* engine.status(workflowId).pipe(Effect.option)
            const status = Option.match(checkpoint, { onNone: () => "unknown", onSome: (c) => c.status })
            // A workflow cancelled after this retry was accepted (a task cancel) stays cancelled:
            // `execute` below fails with `WorkflowCancelled`. Decided by the checkpoint's epoch,
            // not by comparing two instances' clocks.
            const cancelledSince = Option.isSome(checkpoint) && cancelledAfter(checkpoint.value, payload.seen)
            if (status === "failed" || (status === "cancelled" && !cancelledSince)) {
              return yield* engine.retry(research, workflowId, wait)
            }
          }
          return yield* engine.execute(research, workflowId, { topic: payload.topic, agent: payload.agent }, wait)
        })

      // The handler: the workflow, with the task's usage reported to its budget grant. A run
      // interrupted (a cancel, a timeout, or a shutdown that hands it back) is not counted here.
      const handler = (payload: TaskPayload, context: Task.TaskContext) => {
        const workflowId = payload.workflowId ?? context.taskId
        // A retry names itself the workflow's current task before it runs it (for the poison sweep).
        const index = payload.mode === "retry"
          ? state.set(runIndexKey(workflowId), { taskId: context.taskId }, {
            agent: WORKER,
            strategy: "last-write-wins"
          })
          : Effect.void
        // A store's failure (its database restarting, its connections exhausted) is waited out
        // here, each step on its own (the index is not written again when the run fails): the
        // engine resumes the workflow from its last checkpoint. Step failures are the engine's to
        // retry; it records them, and they do not reach here as store errors.
        const waitingOutStores = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          effect.pipe(
            Effect.tapError((error) =>
              isStoreError(error)
                ? Effect.logWarning(`team: workflow ${workflowId}: a store failed; trying again`, error)
                : Effect.void
            ),
            Effect.retry({ while: isStoreError, schedule: storeRetry })
          )
        return Effect.zipRight(waitingOutStores(index), waitingOutStores(runWorkflow(payload, workflowId))).pipe(
          Effect.provideService(TaskUsage, { report: context.reportUsage }),
          Effect.provide(services),
          Effect.map((final) => ({ workflowId, report: final.report ?? "" })),
          Effect.onExit((exit) =>
            Exit.isSuccess(exit) ? count("completed") : Exit.isInterrupted(exit) ? Effect.void : count("failed")
          )
        )
      }

      // A task can end without its workflow recording the end (`Orphan`): a poison task (its
      // deliveries lost to runners that died) never reaches a handler — the supervisor ends it
      // at a claim, in whichever instance claimed it, and its workflow is left `running` by the
      // runner that died; a task that failed outside the workflow's steps leaves it `running`,
      // or never started. The instance that records the task's end marks the workflow failed
      // with that cause and writes its dead letter (as the engine does for a failed workflow),
      // so the workflow can be retried from the API or its letter replayed.
      //
      // The marking holds the workflow's lease, so instances on one database never both mark it,
      // and marks only a workflow still `running` (or never started), so a second marking changes
      // nothing — nor does a marking of a workflow the engine ended itself. The letter is written
      // first (the dead letter queue keeps one per task and run), the failed checkpoint last: a
      // process that dies between the task's end and the marking, or between the letter and the
      // checkpoint, leaves the workflow `running` — and the sweep below marks it. `wait`: wait
      // for the dead runner's workflow lease to expire; without it a workflow still leased is
      // left to a later sweep. True when this call marked the workflow.
      const failOrphaned = (taskId: string, orphan: Orphan, wait: boolean) =>
        Effect.gen(function*() {
          const stored = yield* queue.status(taskId)
          if (Option.isNone(stored)) return false
          const payload = decodePayload(stored.value.record.payload)
          if (Option.isNone(payload)) return false
          const workflowId = (payload.value.workflowId ?? taskId) as Checkpoint.Checkpoint["workflowId"]
          const error = orphan.error
          const holder = `${WORKER}-orphan-${taskId}`
          const ttl = Duration.toMillis(config.leaseTtl)
          const acquire = store.acquire(workflowId, holder, ttl)
          const lease = yield* wait
            ? acquire.pipe(Effect.retry({
              while: (e) => e._tag === "WorkflowBusy",
              schedule: Schedule.spaced(Duration.millis(Math.max(10, ttl / 10))).pipe(
                Schedule.upTo(Duration.times(config.leaseTtl, 3))
              )
            }))
            : acquire
          return yield* Effect.gen(function*() {
            const loaded = yield* store.load(workflowId)
            // Ended meanwhile (marked by another instance, or ended by a run): nothing to mark.
            if (Option.isSome(loaded) && loaded.value.status !== "running") return false
            const now = yield* Clock.currentTimeMillis
            let checkpoint: Checkpoint.Checkpoint
            if (Option.isNone(loaded)) {
              // Never started by the engine: a failed checkpoint at its first step.
              checkpoint = {
                workflowId,
                name: research.name,
                version: research.version,
                status: "failed",
                state: { topic: payload.value.topic, agent: payload.value.agent },
                completedSteps: [],
                attempts: {},
                run: 1,
                failure: { step: research.steps[0]!.name, stepIndex: 0, attempts: 0, error, at: now },
                createdAt: now,
                updatedAt: now,
                epoch: lease.epoch
              }
            } else {
              const c = loaded.value
              const stepIndex = Math.min(c.completedSteps.length, research.steps.length - 1)
              const step = research.steps[stepIndex]!.name
              checkpoint = {
                ...c,
                status: "failed",
                failure: { step, stepIndex, attempts: c.attempts[step] ?? 0, error, at: now },
                updatedAt: now,
                epoch: lease.epoch
              }
            }
            const failure = checkpoint.failure!
            yield* dlq.add({
              source: "supervisor",
              taskType: "research",
              taskId: taskId as Letter.Letter["taskId"] & string,
              workflow: { id: workflowId, name: research.name, version: research.version, step: failure.step },
              attempt: Math.max(1, checkpoint.run),
              attempts: orphan.attempts,
              payload: { workflowId, state: checkpoint.state, completedSteps: checkpoint.completedSteps },
              error,
              agent: payload.value.agent as Letter.Letter["agent"] & string,
              firstAttemptAt: Math.min(stored.value.record.submittedAt, now),
              lastAttemptAt: now,
              context: orphan.context
            })
            yield* store.save(lease, checkpoint, { release: true })
            if (orphan.count) yield* count("failed", "poisoned")
            yield* Effect.logWarning(`team: workflow ${workflowId} failed: ${error.message}`)
            return true
          }).pipe(
            // The save that marks it releases the lease; anything else releases it here.
            Effect.onExit((exit) =>
              Exit.isSuccess(exit) && exit.value ? Effect.void : Effect.ignore(store.release(lease))
            )
          )
        })
      const followOrphaned = (taskId: string, orphan: Orphan) =>
        failOrphaned(taskId, orphan, true).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logError(
              `team: the workflow of task ${taskId} (${orphan.error.tag}) could not be marked failed ` +
                `(the sweep will, if it was started)`,
              cause
            )
          )
        )

      // The task that runs a workflow now: its first task (the workflow's id), or the retry whose
      // handler last started it (`runIndexKey`, written before the engine runs the workflow).
      const currentTask = (workflowId: string) =>
        Effect.map(state.get(runIndexKey(workflowId)), (entry) => {
          const taskId = Option.isSome(entry) ? entry.value.value.taskId : undefined
          return typeof taskId === "string" ? taskId : workflowId
        })

      // The poison sweep: the workflows left `running` whose current task ended poisoned (their
      // follow-up above never ran, or did not finish) are marked failed with the stored cause and
      // their dead letter. At most `SWEEP_BATCH` workflows a sweep, continuing where the last
      // one stopped (from the first again after the last page). Returns how many it marked.
      const sweepCursor = yield* Ref.make<string | undefined>(undefined)
      const sweepPoisoned = Effect.gen(function*() {
        const cursor = yield* Ref.get(sweepCursor)
        const page = yield* engine.list({
          name: research.name,
          status: "running",
          limit: SWEEP_BATCH,
          ...(cursor === undefined ? {} : { cursor })
        })
        yield* Ref.set(sweepCursor, page.cursor)
        let marked = 0
        for (const checkpoint of page.items) {
          const taskId = yield* currentTask(checkpoint.workflowId)
          const stored = yield* queue.status(taskId)
          if (Option.isNone(stored) || stored.value.outcome === undefined) continue
          const orphan = orphanOf(taskId, stored.value.outcome)
          if (orphan === undefined) continue
          const done = yield* failOrphaned(taskId, orphan, false).pipe(
            Effect.catchTag("WorkflowBusy", () => Effect.succeed(false))
          )
          if (done) marked++
        }
        return marked
      })

      // The queue as the supervisor sees it: every end it records is followed here, once (an
      // end is fenced by the claim's token, so only one instance records it).
      const followEnd = (taskId: string, outcome: TaskQueue.Outcome) => {
        const orphan = orphanOf(taskId, outcome)
        return orphan === undefined ? Effect.void : followOrphaned(taskId, orphan)
      }
      // (The supervisor refuses `handBack` over its memory queue, which it recognises by an
      // internal mark this wrapper does not carry. The simulation runs the team over the memory
      // stores, which outlive each of its processes there, so handing back is what it needs.)
      const followed: TaskQueue.TaskQueueService = {
        ...queue,
        end: (id, token, outcome) =>
          Effect.tap(queue.end(id, token, outcome), (ended) => ended ? followEnd(id, outcome) : Effect.void),
        endThenClaim: (ended, type, options) =>
          Effect.tap(
            queue.endThenClaim(ended, type, options),
            (r) => r.ended ? followEnd(ended.id, ended.outcome) : Effect.void
          )
      }

      const taskType = researchTask(config.maxQueued)
      const supervisorLayer = Supervisor.layer({
        types: [taskType],
        workers: [Task.worker(taskType, { name: WORKER, maxConcurrent: 4, handler })],
        groupLimits: { default: 2 },
        admission: policies,
        // At a stop: the runs in flight get the drain's grace period, then go back to the queue.
        shutdown: { mode: "handBack", timeout: config.drainTimeout },
        results: { retention: config.taskRetention },
        // The queue is shared with every instance on the same database (one on SQLite).
        shared: { lease: config.taskLease, pollInterval: config.taskPollInterval }
      })
      const supervisor = yield* Layer.build(supervisorLayer).pipe(
        Effect.map(Context.get(Supervisor.Supervisor)),
        Effect.provideService(TaskQueue.TaskQueue, followed),
        Effect.orDie
      )

      const refusal = (
        error:
          | SupervisorErrors.Backpressure
          | AdmissionPolicy.AdmissionRejected
          | AdmissionPolicy.AdmissionUnavailable
          | { readonly _tag: string }
      ): SubmitError => {
        switch (error._tag) {
          case "Backpressure": {
            const e = error as SupervisorErrors.Backpressure
            return new Api.TooManyRequests({
              message: `the ${e.taskType} queue holds ${e.queueDepth} of ${e.maxQueued}`,
              reason: "backpressure",
              retryAfterMillis: Math.max(1, Math.ceil(e.retryAfterMillis))
            })
          }
          case "AdmissionRejected": {
            const e = error as AdmissionPolicy.AdmissionRejected
            return new Api.TooManyRequests({
              message: e.reason,
              reason: "budget",
              retryAfterMillis: Math.max(1, Math.ceil(e.retryAfterMillis ?? 60_000)),
              ...(e.scope === undefined ? {} : { scope: e.scope })
            })
          }
          case "AdmissionUnavailable": {
            // A store admission decides with does not answer (the policy logged why): not a refusal.
            const e = error as AdmissionPolicy.AdmissionUnavailable
            return new Api.Unavailable({
              message: `${e.policy} cannot decide right now: ${e.reason}`,
              retryAfterMillis: Math.max(1, Math.ceil(e.retryAfterMillis ?? 1_000))
            })
          }
          case "SupervisorClosed":
            return new Api.Unavailable({ message: "the service is draining: no new work is admitted" })
          case "UnknownTaskType":
            return new Api.UnknownTaskType({
              message: "no task type of that name",
              taskType: (error as unknown as { taskType: string }).taskType,
              known: [...TASK_TYPES]
            })
          case "InvalidPayload":
          case "InvalidInput":
            return new Api.InvalidRequest({ message: (error as unknown as { message: string }).message })
          default:
            return internal("submit")(error as { _tag: string })
        }
      }

      // Queued in the durable queue (or refused, with nothing written), then answered.
      const admit = (payload: TaskPayload, priority: number | undefined) =>
        Effect.gen(function*() {
          if (!(yield* Ref.get(ready))) {
            return yield* new Api.Unavailable({ message: "the service is starting or draining" })
          }
          const handle = yield* supervisor.submit({
            type: taskType,
            payload,
            ...(priority === undefined ? {} : { priority }),
            agentId: payload.agent,
            groupKey: payload.agent,
            estimatedTokens: ESTIMATED_TOKENS
          }).pipe(
            Effect.tapError(() => count("refused")),
            Effect.mapError(refusal)
          )
          yield* count("accepted")
          return {
            id: handle.id as string,
            workflowId: payload.workflowId ?? handle.id,
            status: "accepted" as const,
            handle
          }
        })

      let next = 0
      const submitTask = (request: typeof Api.SubmitTask.Type) =>
        Effect.gen(function*() {
          if (!(TASK_TYPES as ReadonlyArray<string>).includes(request.type)) {
            return yield* new Api.UnknownTaskType({
              message: `no task type named "${request.type}"`,
              taskType: request.type,
              known: [...TASK_TYPES]
            })
          }
          const payload = yield* Schema.decodeUnknown(Api.ResearchPayload)(request.payload).pipe(
            Effect.mapError((error) =>
              new Api.InvalidRequest({ message: ParseResult.TreeFormatter.formatErrorSync(error) })
            )
          )
          const agent = payload.agent ?? config.agents[next++ % config.agents.length]!
          if (!HashSet.has(knownAgents, agent)) {
            return yield* new Api.InvalidRequest({
              message: `unknown agent "${agent}"; the team: ${config.agents.join(", ")}`
            })
          }
          return yield* admit({ topic: payload.topic, agent, mode: "execute" }, request.priority)
        })
      const accepted = (a: { readonly id: string; readonly workflowId: string }) => ({
        id: a.id,
        workflowId: a.workflowId,
        status: "accepted" as const
      })
      const submit = (request: typeof Api.SubmitTask.Type) => Effect.map(submitTask(request), accepted)
      const run = (payload: typeof Api.ResearchPayload.Type) =>
        Effect.flatMap(
          submitTask({ type: "research", payload }),
          (a) => Effect.map(a.handle.await, (result) => result.report)
        )

      const notFound = (id: string) => new Api.NotFound({ message: `no task ${id}`, kind: "task", id })
      const task = (id: string) =>
        queue.status(id).pipe(
          Effect.mapError(internal("read the task")),
          Effect.flatMap((stored) => {
            const found = Option.isSome(stored) && stored.value.record.type === "research"
              ? view(stored.value)
              : undefined
            return found === undefined ? Effect.fail(notFound(id)) : Effect.succeed(found)
          })
        )

      const workflowOf = (stored: TaskQueue.StoredTask) =>
        Option.match(decodePayload(stored.record.payload), {
          onNone: () => stored.record.id as string,
          onSome: (payload) => payload.workflowId ?? stored.record.id
        })
      // A workflow left `running` with nobody running it (its handler was interrupted before the
      // engine saved a step) is cancelled too, so that no list shows it running forever.
      const settleWorkflow = (workflowId: string) =>
        engine.status(workflowId).pipe(
          Effect.flatMap((checkpoint) =>
            checkpoint.status === "running" ? Effect.asVoid(engine.cancel(workflowId)) : Effect.void
          ),
          Effect.catchTags({
            WorkflowNotFound: () => Effect.void,
            InvalidInput: () => Effect.void,
            StoreError: (e) => Effect.fail(internal("cancel the workflow")(e))
          })
        )
      // The supervisor's cancel. A task it no longer knows (ended and purged, or gone from the
      // queue, between our read and this cancel) is the API's 404, never a 500.
      const cancelTask = (id: string) =>
        supervisor.cancel(id).pipe(
          Effect.catchTags({
            TaskNotFound: () => Effect.fail(notFound(id)),
            StoreError: (e) => Effect.fail(internal("cancel the task")(e))
          })
        )
      const cancel = (id: string) =>
        Effect.gen(function*() {
          const stored = yield* queue.status(id).pipe(Effect.mapError(internal("read the task")))
          if (Option.isNone(stored) || stored.value.record.type !== "research" || view(stored.value) === undefined) {
            return yield* notFound(id)
          }
          const workflowId = workflowOf(stored.value)
          const ended = (status: string) =>
            new Api.InvalidState({ message: `task ${id} is already ${status}; nothing to cancel`, id })
          switch (stored.value.status) {
            case "completed":
            case "failed":
            case "cancelled":
            case "dead-lettered":
              return yield* ended(view(stored.value)!.status)
            case "running": {
              // Its workflow stops at its next step, its checkpoint kept; the handler then fails with
              // WorkflowCancelled and the task ends cancelled (no dead letter, no supervisor retry).
              const outcome = yield* engine.cancel(workflowId).pipe(
                Effect.map(Option.some),
                Effect.catchTags({
                  WorkflowNotFound: () => Effect.succeedNone,
                  InvalidInput: () => Effect.succeedNone,
                  StoreError: (e) => Effect.fail(internal("cancel the workflow")(e))
                })
              )
              if (Option.isSome(outcome) && outcome.value === "already-completed") {
                return yield* ended("completed")
              }
              // Its runner was asked to stop: the handler ends with WorkflowCancelled.
              if (Option.isSome(outcome) && outcome.value === "requested") break
              // Nobody ran the workflow (`cancelled`, or none yet): the task is claimed, its workflow
              // not started — a retry's handler may be between reading the workflow's status and
              // running it, and would run it again. The supervisor interrupts the handler.
              yield* cancelTask(id)
              yield* settleWorkflow(workflowId)
              break
            }
            default: {
              // Queued (or waiting to be retried): the supervisor drops it and settles its grant. If a
              // worker claimed it meanwhile, the supervisor interrupts the handler and waits for its end.
              yield* cancelTask(id)
              yield* settleWorkflow(workflowId)
            }
          }
          const after = yield* task(id)
          // It ended on its own meanwhile (completed or failed before the cancel reached it).
          if (after.status === "completed" || after.status === "failed") return yield* ended(after.status)
          return { outcome: after.status === "cancelled" ? "cancelled" as const : "requested" as const, task: after }
        })

      const retry = (workflowId: string) =>
        Effect.gen(function*() {
          const checkpoint = yield* engine.status(workflowId).pipe(
            Effect.catchTags({
              WorkflowNotFound: () =>
                Effect.fail(
                  new Api.NotFound({ message: `no workflow ${workflowId}`, kind: "workflow", id: workflowId })
                ),
              InvalidInput: () =>
                Effect.fail(
                  new Api.NotFound({ message: `no workflow ${workflowId}`, kind: "workflow", id: workflowId })
                ),
              StoreError: (e) => Effect.fail(internal("workflow status")(e))
            })
          )
          if (checkpoint.status === "completed" || checkpoint.status === "running") {
            return yield* new Api.InvalidState({
              message: `workflow ${workflowId} is ${checkpoint.status}: only a failed or cancelled workflow is retried`,
              id: workflowId
            })
          }
          const state = yield* Schema.decodeUnknown(research.state)(checkpoint.state).pipe(
            Effect.mapError(() => internal("decode the checkpoint")({ _tag: "CheckpointInvalid" }))
          )
          return yield* admit(
            {
              topic: state.topic,
              agent: state.agent,
              mode: "retry",
              workflowId,
              seen: { status: checkpoint.status, epoch: checkpoint.epoch }
            },
            undefined
          )
        })

      // A letter's replay runs the workflow again as a supervisor task (its failed step first) and waits for it.
      const replay = (letterId: string) =>
        dlq.replay(letterId, (_payload, letter: Letter.Letter) =>
          Effect.gen(function*() {
            const workflowId = letter.workflow?.id
            if (workflowId === undefined) {
              return yield* Effect.fail(new Error(`letter ${letter.id} refers to no workflow`))
            }
            const accepted = yield* retry(workflowId)
            return yield* accepted.handle.await
          })).pipe(
            Effect.catchTags({
              LetterNotFound: () =>
                Effect.fail(new Api.NotFound({ message: `no letter ${letterId}`, kind: "letter", id: letterId })),
              ReplayInProgress: () =>
                Effect.fail(new Api.InvalidState({ message: "a replay holds this letter", id: letterId })),
              AlreadyResolved: () =>
                Effect.fail(new Api.InvalidState({ message: "the letter is resolved", id: letterId })),
              ClaimLost: () =>
                Effect.fail(new Api.InvalidState({ message: "the letter was taken meanwhile", id: letterId })),
              InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
              PayloadTooLarge: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
              StoreError: (e) => Effect.fail(internal("replay")(e))
            })
          )

      yield* Ref.set(ready, true)
      // The poison sweep: now (what a process that died left), then every four workflow lease
      // times (a dead runner's workflow lease must expire before a workflow can be marked).
      const sweep = sweepPoisoned.pipe(Effect.mapError(internal("poison sweep")))
      yield* sweep.pipe(
        Effect.tap((marked) =>
          marked > 0 ? Effect.logInfo(`team: the poison sweep failed ${marked} workflow(s)`) : Effect.void
        ),
        Effect.catchAllCause((cause) => Effect.logWarning("team: the poison sweep failed", cause)),
        Effect.repeat(Schedule.spaced(Duration.max(Duration.times(config.leaseTtl, 4), Duration.seconds(1)))),
        Effect.forkScoped
      )
      // At a stop (this finalizer runs before the supervisor's): admission stops (503). The
      // supervisor's shutdown then hands back what is still running after the drain timeout.
      yield* Effect.addFinalizer(() => Ref.set(ready, false))

      if (config.team) {
        let turn = 0
        yield* Effect.suspend(() => {
          const topic = TOPICS[turn++ % TOPICS.length]!
          return submit({ type: "research", payload: { topic }, priority: 5 }).pipe(
            Effect.catchAll((error) => Effect.logDebug(`built-in team: ${error._tag}: ${error.message}`))
          )
        }).pipe(Effect.repeat(Schedule.spaced(config.teamInterval)), Effect.forkScoped)
      }

      return {
        agents: config.agents,
        submit,
        task,
        cancel,
        retry: (workflowId: string) => Effect.map(retry(workflowId), accepted),
        replay,
        run,
        ready: Ref.get(ready),
        counts: Ref.get(counts),
        sweepPoisoned: sweep,
        supervisor
      }
    })
  )
