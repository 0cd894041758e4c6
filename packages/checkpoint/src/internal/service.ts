// The engine's rules, written once over the CheckpointStore contract: bad
// input refused before anything changes, the lease taken (with the first
// checkpoint when the workflow is new), the checkpoint restored
// (restore.ts), the steps run (stepRunner.ts), and the operations on stored
// workflows (status, cancel, prune, resumeAll, resumeFromLetter).
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as Failure from "@agentos/core/Failure"
import * as IdGenerator from "@agentos/core/IdGenerator"
import { WorkflowId } from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Checkpoint, Page } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import { InvalidInput, type InvalidOptions, WorkflowNotFound } from "../Errors.js"
import type { Workflow } from "../Workflow.js"
import type * as WorkflowEngine from "../WorkflowEngine.js"
import type { RunError, RunOptions } from "../WorkflowEngine.js"
import * as Leases from "./leases.js"
import type { Held } from "./leases.js"
import * as Options from "./options.js"
import * as Paging from "./paging.js"
import { type Mode, restore } from "./restore.js"
import * as StepRunner from "./stepRunner.js"
import * as Tracing from "./tracing.js"

const decodeWorkflowId = Schema.decodeUnknownEither(WorkflowId)

const decodeId = (raw: string): Effect.Effect<WorkflowId, InvalidInput> => {
  const decoded = decodeWorkflowId(raw)
  return decoded._tag === "Right" ? Effect.succeed(decoded.right) : Effect.fail(
    new InvalidInput({
      message: `"${raw}" is not a valid workflow id (1–256 characters, no leading or trailing white space)`
    })
  )
}

/** The engine's traced methods (`Effect.fn("WorkflowEngine.<method>")`). */
export const tracedMethods = [
  "execute",
  "resume",
  "retry",
  "status",
  "list",
  "cancel",
  "prune",
  "resumeAll",
  "resumeFromLetter"
] as const

/** Builds the engine over `store`, its methods traced. */
export const make = (
  options: WorkflowEngine.Options,
  store: CheckpointStoreService
): Effect.Effect<WorkflowEngine.WorkflowEngineService, InvalidOptions, IdGenerator.IdGenerator> =>
  Effect.map(makeUntraced(options, store), (service) => Tracing.traced("WorkflowEngine", service, tracedMethods))

/** Builds the engine over `store`, without spans. */
export const makeUntraced = (
  options: WorkflowEngine.Options,
  store: CheckpointStoreService
): Effect.Effect<WorkflowEngine.WorkflowEngineService, InvalidOptions, IdGenerator.IdGenerator> =>
  Effect.gen(function*() {
    const { heartbeatMillis, ttlMillis, ...settings } = yield* Options.engine(options)
    const deadLetters = yield* Effect.serviceOption(DeadLetters.DeadLetters)
    const holder = settings.holder ?? (yield* Effect.flatMap(IdGenerator.IdGenerator, (ids) => ids.next))
    const runner: StepRunner.Runner = { store, deadLetters, heartbeatMillis }
    const release = Leases.release(store)

    const run = <S, I, E, R>(
      workflow: Workflow<S, I, E, R>,
      rawId: string,
      mode: Mode,
      input: Option.Option<S>,
      runOptions: RunOptions | undefined
    ): Effect.Effect<S, RunError, R> =>
      Effect.gen(function*() {
        const workflowId = yield* decodeId(rawId)
        // Bad input changes nothing: encode the input before taking the lease.
        let encodedInput = Option.none<unknown>()
        if (Option.isSome(input)) {
          const encoded = Schema.encodeEither(workflow.state)(input.value)
          if (encoded._tag === "Left") {
            return yield* new InvalidInput({
              message: `the input of workflow "${workflow.name}" is invalid: ${encoded.left.message}`
            })
          }
          const invalid = Json.findInvalid(encoded.right)
          if (invalid !== undefined) {
            return yield* new InvalidInput({
              message: `the input of workflow "${workflow.name}" does not encode to JSON: ${invalid}`
            })
          }
          encodedInput = Option.some(encoded.right)
        }
        // resume and retry of an unknown id fail before taking (and leaving) a lease.
        if (mode !== "execute" && Option.isNone(yield* store.load(workflowId))) {
          return yield* new WorkflowNotFound({ workflowId })
        }
        let grant = Effect.map(
          store.acquire(workflowId, holder, ttlMillis),
          (lease): Held => ({ lease, released: false })
        )
        // A new workflow's first checkpoint is saved with the grant (one
        // statement on Postgres) when its input decodes synchronously; the
        // store saves it only if the workflow has no checkpoint yet.
        let decodedInput = Option.none<S>()
        if (mode === "execute" && Option.isSome(encodedInput)) {
          const decoded = Schema.decodeUnknownEither(workflow.state)(encodedInput.value)
          if (decoded._tag === "Right") {
            decodedInput = Option.some(decoded.right)
            const state = encodedInput.value as Json.JsonValue
            grant = Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const initial: Checkpoint = {
                workflowId,
                name: workflow.name,
                version: workflow.version,
                status: "running",
                state,
                completedSteps: [],
                attempts: {},
                run: 1,
                createdAt: now,
                updatedAt: now,
                epoch: 0
              }
              return Effect.map(
                store.acquireAndCreate(workflowId, holder, ttlMillis, initial),
                ({ cancelRequested, created, lease }): Held => ({
                  lease,
                  released: false,
                  ...(created ? { created: { checkpoint: { ...initial, epoch: lease.epoch }, cancelRequested } } : {})
                })
              )
            })
          }
        }
        return yield* Leases.withLease(
          store,
          grant,
          runOptions,
          (held) => runLeased(workflow, workflowId, held, mode, encodedInput, decodedInput)
        )
      }).pipe(Effect.zipLeft(Effect.annotateCurrentSpan({ workflow: workflow.name, workflowId: rawId, mode })))

    const runLeased = <S, I, E, R>(
      workflow: Workflow<S, I, E, R>,
      workflowId: WorkflowId,
      held: Held,
      mode: Mode,
      encodedInput: Option.Option<unknown>,
      decodedInput: Option.Option<S>
    ): Effect.Effect<S, RunError, R> =>
      Effect.gen(function*() {
        if (held.created !== undefined && Option.isSome(decodedInput)) {
          const { cancelRequested, checkpoint } = held.created
          return yield* StepRunner.supervise(runner, workflow, workflowId, held, checkpoint, decodedInput.value, {
            cancelRequested
          })
        }
        const existing = yield* store.load(workflowId)
        const now = yield* Clock.currentTimeMillis
        const restored = yield* restore(workflow, workflowId, existing, mode, encodedInput, now, held.lease.epoch)
        if (restored._tag === "Completed") return restored.state
        const leaseState = yield* store.save(held.lease, restored.checkpoint)
        return yield* StepRunner.supervise(
          runner,
          workflow,
          workflowId,
          held,
          restored.checkpoint,
          restored.state,
          leaseState
        )
      })

    const service: WorkflowEngine.WorkflowEngineService = {
      execute: (workflow, workflowId, input, runOptions) =>
        run(workflow, workflowId, "execute", Option.some(input), runOptions),
      resume: (workflow, workflowId, runOptions) => run(workflow, workflowId, "resume", Option.none(), runOptions),
      retry: (workflow, workflowId, runOptions) => run(workflow, workflowId, "retry", Option.none(), runOptions),
      status: (rawId) =>
        Effect.gen(function*() {
          const workflowId = yield* decodeId(rawId)
          const found = yield* store.load(workflowId)
          if (Option.isNone(found)) return yield* new WorkflowNotFound({ workflowId })
          return found.value
        }),
      // Checked here too, so that a store of the user's own that does not
      // check its query still gives the engine's callers a typed error.
      list: (query) => Effect.zipRight(Paging.check(query), store.list(query)),
      cancel: (rawId) =>
        Effect.gen(function*() {
          const workflowId = yield* decodeId(rawId)
          // An unknown id fails before taking (and leaving) a lease.
          if (Option.isNone(yield* store.load(workflowId))) return yield* new WorkflowNotFound({ workflowId })
          if (yield* store.requestCancel(workflowId)) return "requested" as const
          return yield* Effect.acquireUseRelease(
            store.acquire(workflowId, holder, ttlMillis),
            (lease) =>
              Effect.gen(function*() {
                const found = yield* store.load(workflowId)
                if (Option.isNone(found)) return yield* new WorkflowNotFound({ workflowId })
                if (found.value.status === "completed") return "already-completed" as const
                if (found.value.status !== "cancelled") {
                  const at = yield* Clock.currentTimeMillis
                  yield* store.save(lease, { ...found.value, status: "cancelled", updatedAt: at })
                }
                return "cancelled" as const
              }),
            release
          )
        }).pipe(
          // A runner took the lease between our request and our acquire: ask it again.
          Effect.retry({ while: (error) => error._tag === "WorkflowBusy" || error._tag === "LeaseLost", times: 5 }),
          Effect.catchTags({
            WorkflowBusy: () => Effect.succeed("requested" as const),
            LeaseLost: () => Effect.succeed("requested" as const)
          })
        ),
      prune: ({ olderThan, statuses }) =>
        Effect.gen(function*() {
          const age = Duration.decodeUnknown(olderThan)
          const negative = (typeof olderThan === "number" && olderThan < 0) ||
            (typeof olderThan === "bigint" && olderThan < 0n) ||
            (typeof olderThan === "string" && olderThan.trim().startsWith("-"))
          if (Option.isNone(age) || negative) {
            return yield* new InvalidInput({
              message: `prune: olderThan must be a duration of 0 or more, got ${JSON.stringify(String(olderThan))}`
            })
          }
          const now = yield* Clock.currentTimeMillis
          return yield* store.prune({
            statuses: statuses ?? ["completed", "cancelled"],
            updatedBefore: Duration.isFinite(age.value) ? now - Duration.toMillis(age.value) : Number.MIN_SAFE_INTEGER
          })
        }),
      resumeAll: (workflows, runOptions) =>
        Effect.gen(function*() {
          const byName = new Map(workflows.map((workflow) => [workflow.name, workflow]))
          const running: Array<Checkpoint> = []
          let cursor: string | undefined
          do {
            const page: Page = yield* store.list({
              status: "running",
              limit: 1000,
              ...(cursor === undefined ? {} : { cursor })
            }).pipe(
              // This query is valid: a store that refuses it is broken.
              Effect.catchTag("InvalidInput", (error) => Effect.die(error))
            )
            for (const item of page.items) running.push(item)
            cursor = page.cursor
          } while (cursor !== undefined)
          const completed: Array<string> = []
          const failed: Array<{ workflowId: string; error: string }> = []
          const busy: Array<string> = []
          const unknown: Array<string> = []
          yield* Effect.forEach(running, (checkpoint) => {
            const workflow = byName.get(checkpoint.name)
            if (workflow === undefined) return Effect.sync(() => void unknown.push(checkpoint.workflowId))
            // Each resume is its own span (the run annotates the current one).
            const resumed = run(workflow, checkpoint.workflowId, "resume", Option.none(), runOptions).pipe(
              Effect.withSpan("WorkflowEngine.resume", { captureStackTrace: false })
            )
            return Effect.either(resumed).pipe(
              Effect.map((result) => {
                if (result._tag === "Right") completed.push(checkpoint.workflowId)
                else if (result.left._tag === "WorkflowBusy") busy.push(checkpoint.workflowId)
                else {
                  failed.push({
                    workflowId: checkpoint.workflowId,
                    error: `${result.left._tag}: ${Failure.fromUnknown(result.left).message}`
                  })
                }
              })
            )
          }, {
            concurrency: Math.max(1, Math.floor(runOptions?.concurrency ?? 4) || 1),
            discard: true
          })
          return { completed, failed, busy, unknown }
        }),
      resumeFromLetter: (workflows, letter, runOptions) =>
        Effect.gen(function*() {
          const ref = letter.workflow
          if (ref === undefined) return yield* new InvalidInput({ message: "the letter carries no workflow reference" })
          const workflow = workflows.find((candidate) => candidate.name === ref.name)
          if (workflow === undefined) {
            return yield* new InvalidInput({ message: `no definition was given for workflow "${ref.name}"` })
          }
          return yield* run(workflow, ref.id, "resume", Option.none(), runOptions)
        })
    }
    return service
  })
