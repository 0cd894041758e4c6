// The agent team: every research run is a supervisor task of type `research`
// (grouped by agent, admitted by the token budget's policy with its estimate
// and by the router's spend policy), whose handler runs the checkpointed
// workflow. The supervisor does not retry it: the checkpoint engine is the
// one layer that retries steps and dead-letters a failed workflow.
//
// Accepted tasks are recorded in shared state (`demo/tasks/<id>`) before they
// are queued, because this release of the supervisor queues in memory: at
// start the service submits again every task recorded as accepted, and its
// workflow resumes at the first step not completed — none vanish.
import { WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator } from "@agentos/core"
import type { AdmissionPolicy } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import type { Letter } from "@agentos/dlq"
import type { AgentMemory } from "@agentos/memory"
import { SharedState } from "@agentos/state"
import { Supervisor, Task } from "@agentos/supervisor"
import type { Errors as SupervisorErrors } from "@agentos/supervisor"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import {
  Cause,
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

const TaskPayload = Schema.Struct({
  workflowId: Schema.String,
  topic: Schema.String,
  agent: Schema.String,
  mode: Schema.Literal("execute", "retry"),
  submittedAt: Schema.Int
})
type TaskPayload = typeof TaskPayload.Type

/** The `research` task type: its queue holds at most `maxQueued` tasks (more: 429 backpressure). */
export const researchTask = (maxQueued: number) =>
  Task.taskType("research", {
    payload: TaskPayload,
    result: Schema.Struct({ workflowId: Schema.String, report: Schema.String }),
    timeout: "10 minutes",
    maxQueued
  })

/** A task as recorded in shared state. */
const Ledger = Schema.Struct({
  ...Api.TaskView.fields,
  priority: Schema.optional(Schema.Int)
})
type Ledger = typeof Ledger.Type
/** A task not finished yet (what recovery reads at start). */
const ledgerKey = (id: string) => `demo/tasks/${id}`
/** A finished task, moved out of the open records so start-up reads only the open ones. */
const doneKey = (id: string) => `demo/done/${id}`
const decodeLedger = Schema.decodeUnknownOption(Ledger)

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
  readonly retry: (workflowId: string) => Effect.Effect<
    typeof Api.Accepted.Type,
    Api.NotFound | Api.InvalidState | SubmitError
  >
  readonly replay: (letterId: string) => Effect.Effect<
    unknown,
    Api.NotFound | Api.InvalidState | Api.InvalidRequest | Api.InternalError
  >
  /** Submits a research run and waits for its report (the benchmark's unit of work). */
  readonly run: (
    payload: typeof Api.ResearchPayload.Type
  ) => Effect.Effect<string, SubmitError | SupervisorErrors.TaskError>
  readonly ready: Effect.Effect<boolean>
  readonly counts: Effect.Effect<Counts>
  readonly supervisor: Supervisor.SupervisorService
}>() {}

const tasksTotal = Metric.counter("agentos_demo_tasks_total", {
  description: "Research tasks by outcome: accepted, refused, completed, failed, cancelled"
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

/**
 * The team's layer: the supervisor (memory queue, admission by the budget's
 * and the router's policies), its `research` worker, start-up recovery and,
 * unless turned off, the built-in team submitting steady work.
 */
export const layer = (
  config: AppConfig,
  policies: ReadonlyArray<AdmissionPolicy.AdmissionPolicyService>
) =>
  Layer.scoped(
    Team,
    Effect.gen(function*() {
      const engine = yield* WorkflowEngine.WorkflowEngine
      const state = yield* SharedState.SharedState
      const dlq = yield* DeadLetterQueue.DeadLetterQueue
      const ids = yield* IdGenerator.IdGenerator
      const services = yield* Effect.context<
        LanguageModel.LanguageModel | AgentMemory.AgentMemory | SharedState.SharedState
      >()
      const counts = yield* Ref.make<Counts>({ accepted: 0, completed: 0, failed: 0, refused: 0 })
      const ready = yield* Ref.make(false)
      const count = (key: keyof Counts) =>
        Effect.zipRight(
          Ref.update(counts, (c) => ({ ...c, [key]: c[key] + 1 })),
          Metric.increment(Metric.tagged(tasksTotal, "outcome", key))
        )
      const knownAgents = HashSet.fromIterable(config.agents)
      const wait = { onBusy: "wait" as const, waitTimeout: Duration.times(config.leaseTtl, 3) }

      const record = (entry: Ledger) =>
        state.set(ledgerKey(entry.id), entry as unknown as Record<string, never>, { agent: "supervisor" })
      // Finished: written to the done records first, then removed from the open ones (a crash in
      // between leaves it open: run again at start, a completed workflow returns at once).
      const finish = (entry: Ledger) =>
        Effect.zipRight(
          state.set(doneKey(entry.id), entry as unknown as Record<string, never>, { agent: "supervisor" }),
          state.delete(ledgerKey(entry.id), { agent: "supervisor" })
        )

      // The handler: the workflow, with the task's usage reported to its budget grant.
      const handler = (payload: TaskPayload, context: Task.TaskContext) => {
        const run = payload.mode === "retry"
          ? engine.retry(research, payload.workflowId, wait)
          : engine.execute(research, payload.workflowId, { topic: payload.topic, agent: payload.agent }, wait)
        const base: Ledger = {
          id: payload.workflowId,
          type: "research",
          status: "accepted",
          agent: payload.agent,
          topic: payload.topic,
          workflowId: payload.workflowId,
          submittedAt: payload.submittedAt,
          supervisor: context.taskId
        }
        return run.pipe(
          Effect.provideService(TaskUsage, { report: context.reportUsage }),
          Effect.provide(services),
          Effect.map((final) => ({ workflowId: payload.workflowId, report: final.report ?? "" })),
          Effect.onExit((exit) =>
            Effect.gen(function*() {
              // Interrupted (shutdown): stays accepted, run again at the next start.
              if (Exit.isInterrupted(exit)) return
              const finishedAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
              if (Exit.isSuccess(exit)) {
                yield* count("completed")
                yield* Effect.ignoreLogged(finish({ ...base, status: "completed", finishedAt }))
                return
              }
              const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
              const cancelled = error._tag === "WorkflowCancelled"
              yield* count("failed")
              yield* Effect.ignoreLogged(finish({
                ...base,
                status: cancelled ? "cancelled" : "failed",
                finishedAt,
                error: `${error._tag ?? "Error"}: ${error.message ?? ""}`
              }))
            })
          )
        )
      }

      const taskType = researchTask(config.maxQueued)
      const supervisorLayer = Supervisor.layerMemory({
        types: [taskType],
        workers: [Task.worker(taskType, { name: "researchers", maxConcurrent: 4, handler })],
        groupLimits: { default: 2 },
        admission: policies,
        shutdown: { mode: "drain", timeout: config.drainTimeout }
      })
      const supervisor = yield* Layer.build(supervisorLayer).pipe(
        Effect.map(Context.get(Supervisor.Supervisor)),
        Effect.orDie
      )

      const enqueue = (entry: Ledger, mode: TaskPayload["mode"], wait: boolean) => {
        const request = {
          type: taskType,
          payload: {
            workflowId: entry.workflowId,
            topic: entry.topic,
            agent: entry.agent,
            mode,
            submittedAt: entry.submittedAt
          },
          ...(entry.priority === undefined ? {} : { priority: entry.priority }),
          agentId: entry.agent,
          groupKey: entry.agent,
          estimatedTokens: ESTIMATED_TOKENS
        }
        return wait ? supervisor.submitWait(request) : supervisor.submit(request)
      }

      const refusal = (
        error: SupervisorErrors.Backpressure | AdmissionPolicy.AdmissionRejected | { readonly _tag: string }
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

      // Recorded first, queued second; a refusal removes the record again.
      const admit = (entry: Ledger, mode: TaskPayload["mode"]) =>
        Effect.gen(function*() {
          if (!(yield* Ref.get(ready))) {
            return yield* new Api.Unavailable({ message: "the service is starting or draining" })
          }
          const written = yield* record(entry).pipe(Effect.mapError(internal("record the task")))
          const handle = yield* enqueue(entry, mode, false).pipe(
            Effect.tapError(() =>
              Effect.ignoreLogged(state.delete(ledgerKey(entry.id), {
                agent: "supervisor",
                ...Option.match(written.entry, { onNone: () => ({}), onSome: (e) => ({ expectedVersion: e.version }) })
              }))
            ),
            Effect.tapError(() => count("refused")),
            Effect.mapError(refusal)
          )
          yield* count("accepted")
          return { id: entry.id, workflowId: entry.workflowId, status: "accepted" as const, handle }
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
          const id = yield* ids.next.pipe(Effect.map((raw) => `wf-${raw}`))
          const submittedAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          return yield* admit({
            id,
            type: "research",
            status: "accepted",
            agent,
            topic: payload.topic,
            workflowId: id,
            submittedAt,
            ...(request.priority === undefined ? {} : { priority: request.priority })
          }, "execute")
        })
      const submit = (request: typeof Api.SubmitTask.Type) =>
        Effect.map(submitTask(request), (a) => ({ id: a.id, workflowId: a.workflowId, status: a.status }))
      const run = (payload: typeof Api.ResearchPayload.Type) =>
        Effect.flatMap(
          submitTask({ type: "research", payload }),
          (accepted) => Effect.map(accepted.handle.await, (result) => result.report)
        )

      const readRecord = (key: string) =>
        state.get(key).pipe(
          Effect.mapError(internal("read the task")),
          Effect.map(Option.flatMap((entry) => decodeLedger(entry.value)))
        )
      // An open record (accepted, maybe run again) wins over a finished one of an earlier run.
      const readLedger = (id: string) =>
        Effect.flatMap(
          readRecord(ledgerKey(id)),
          (open) => Option.isSome(open) ? Effect.succeed(open) : readRecord(doneKey(id))
        )

      const task = (id: string) =>
        Effect.flatMap(
          readLedger(id),
          Option.match({
            onNone: () => Effect.fail(new Api.NotFound({ message: `no task ${id}`, kind: "task", id })),
            onSome: (entry) => Effect.succeed(entry)
          })
        )

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
          const submittedAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          return yield* admit({
            id: workflowId,
            type: "research",
            status: "accepted",
            agent: state.agent,
            topic: state.topic,
            workflowId,
            submittedAt
          }, "retry")
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

      // Start-up recovery: every task recorded as accepted is queued again (waiting for room).
      const recover = Effect.gen(function*() {
        let cursor: string | undefined
        let resubmitted = 0
        do {
          const page = yield* state.list("demo/tasks/", { limit: 500, ...(cursor ? { cursor } : {}) })
          for (const item of page.entries) {
            const entry = decodeLedger(item.value)
            if (Option.isNone(entry) || entry.value.status !== "accepted") continue
            const mode = yield* engine.status(entry.value.workflowId).pipe(
              Effect.map((c): TaskPayload["mode"] => c.status === "cancelled" ? "retry" : "execute"),
              Effect.orElseSucceed((): TaskPayload["mode"] => "execute")
            )
            yield* enqueue(entry.value, mode, true).pipe(
              Effect.tap(() => count("accepted")),
              Effect.tapError((error) =>
                Effect.logWarning(`recovery: task ${entry.value.id} could not be queued again: ${error._tag}`)
              ),
              Effect.ignore
            )
            resubmitted++
          }
          cursor = Option.getOrUndefined(page.cursor)
        } while (cursor !== undefined)
        if (resubmitted > 0) yield* Effect.logInfo(`recovery: ${resubmitted} accepted task(s) queued again`)
      })
      yield* recover.pipe(Effect.orDie)
      yield* Ref.set(ready, true)
      // Admission stops first when the scope closes (SIGTERM); the supervisor then drains.
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
        retry: (workflowId: string) =>
          Effect.map(retry(workflowId), (a) => ({ id: a.id, workflowId: a.workflowId, status: a.status })),
        replay,
        run,
        ready: Ref.get(ready),
        counts: Ref.get(counts),
        supervisor
      }
    })
  )
