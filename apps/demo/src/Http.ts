// The handlers of the HTTP contract (`Api.ts`), one `HttpApiBuilder.group`
// layer per domain. Each maps the packages' typed errors to the contract's.
import { TokenBudget } from "@agentos/budget"
import type { Checkpoint } from "@agentos/checkpoint"
import { WorkflowEngine } from "@agentos/checkpoint"
import { DeadLetterQueue } from "@agentos/dlq"
import { AgentMemory } from "@agentos/memory"
import { DecisionLog, Router } from "@agentos/router"
import { SharedState } from "@agentos/state"
import { HttpApiBuilder, HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { Alerts } from "./Alerts.js"
import * as Api from "./Api.js"
import { SpendHistory } from "./History.js"
import * as Metrics from "./Metrics.js"
import { research } from "./Research.js"
import { Team } from "./Team.js"

/** A 429, and a 503 that knows, also say when to come back, in whole seconds (`Retry-After`). */
const withRetryAfter = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapError(effect, (error) => {
    const millis = error instanceof Api.TooManyRequests || error instanceof Api.Unavailable
      ? error.retryAfterMillis
      : undefined
    return millis === undefined
      ? Effect.void
      : HttpApp.appendPreResponseHandler((_, response) =>
        Effect.succeed(
          HttpServerResponse.setHeader(response, "retry-after", String(Math.max(1, Math.ceil(millis / 1000))))
        )
      )
  })

const stepsOf = (checkpoint: Checkpoint.Checkpoint) =>
  research.steps.map((step) => ({
    name: step.name,
    status: checkpoint.completedSteps.includes(step.name)
      ? "completed" as const
      : checkpoint.failure?.step === step.name
      ? "failed" as const
      : "pending" as const,
    attempts: checkpoint.attempts[step.name] ?? 0
  }))

const workflowView = (checkpoint: Checkpoint.Checkpoint) => ({
  id: checkpoint.workflowId,
  name: checkpoint.name,
  status: checkpoint.status,
  steps: stepsOf(checkpoint),
  run: checkpoint.run,
  state: checkpoint.state,
  ...(checkpoint.failure === undefined ? {} : { failure: checkpoint.failure }),
  createdAt: checkpoint.createdAt,
  updatedAt: checkpoint.updatedAt,
  ...(checkpoint.completedAt === undefined ? {} : { completedAt: checkpoint.completedAt })
})

const workflowNotFound = (id: string) => new Api.NotFound({ message: `no workflow ${id}`, kind: "workflow", id })

export const HealthLive = HttpApiBuilder.group(Api.Api, "health", (handlers) =>
  Effect.gen(function*() {
    const team = yield* Team
    const state = yield* SharedState.SharedState
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        withRetryAfter(Effect.gen(function*() {
          if (!(yield* team.ready)) return yield* new Api.Unavailable({ message: "starting or draining" })
          // One round trip to the database.
          // The store's error (the database's address, the driver's message) is logged, not answered.
          yield* state.get("team/progress").pipe(
            Effect.tapError((e) => Effect.logWarning(`readyz: the store does not answer: ${e.message}`)),
            Effect.mapError(() =>
              new Api.Unavailable({ message: "the store does not answer", retryAfterMillis: 1_000 })
            )
          )
          return { status: "ready" as const }
        })))
      .handle("metrics", () => Metrics.prometheus)
  }))

export const TasksLive = HttpApiBuilder.group(Api.Api, "tasks", (handlers) =>
  Effect.gen(function*() {
    const team = yield* Team
    return handlers
      .handle("submit", ({ payload }) => withRetryAfter(team.submit(payload)))
      .handle("get", ({ path }) => team.task(path.id))
      .handle("cancel", ({ path }) => team.cancel(path.id))
  }))

export const WorkflowsLive = HttpApiBuilder.group(Api.Api, "workflows", (handlers) =>
  Effect.gen(function*() {
    const team = yield* Team
    const engine = yield* WorkflowEngine.WorkflowEngine
    const status = (id: string) =>
      engine.status(id).pipe(
        Effect.catchTags({
          WorkflowNotFound: () => Effect.fail(workflowNotFound(id)),
          InvalidInput: () => Effect.fail(workflowNotFound(id)),
          StoreError: (e) => Effect.die(e)
        })
      )
    return handlers
      .handle("start", ({ payload }) =>
        withRetryAfter(team.submit({ type: "research", payload })).pipe(
          Effect.catchTag("UnknownTaskType", (e) => Effect.die(e))
        ))
      .handle("list", ({ urlParams }) =>
        engine.list({
          name: research.name,
          ...(urlParams.status === undefined ? {} : { status: urlParams.status }),
          ...(urlParams.order === undefined ? {} : { order: urlParams.order }),
          ...(urlParams.cursor === undefined ? {} : { cursor: urlParams.cursor }),
          limit: urlParams.limit ?? 50
        }).pipe(
          Effect.map((page) => ({
            items: page.items.map(workflowView),
            ...(page.cursor === undefined ? {} : { cursor: page.cursor })
          })),
          Effect.catchTags({
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            StoreError: (e) => Effect.die(e)
          })
        ))
      .handle("get", ({ path }) => Effect.map(status(path.id), workflowView))
      .handle("cancel", ({ path }) =>
        engine.cancel(path.id).pipe(
          Effect.map((outcome) => ({ outcome })),
          Effect.catchTags({
            WorkflowNotFound: () => Effect.fail(workflowNotFound(path.id)),
            InvalidInput: () => Effect.fail(workflowNotFound(path.id)),
            StoreError: (e) => Effect.die(e)
          })
        ))
      .handle("retry", ({ path }) =>
        withRetryAfter(team.retry(path.id)).pipe(Effect.catchTag("UnknownTaskType", (e) => Effect.die(e))))
  }))

/** `If-Match: 3` or `If-Match: "3"`: write only over version 3 (0: only when absent). */
const parseIfMatch = (header: string | undefined) => {
  if (header === undefined) return Effect.succeed(undefined)
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header)
  return match === null
    ? Effect.fail(new Api.InvalidRequest({ message: `If-Match must be a version number, got "${header}"` }))
    : Effect.succeed(Number(match[1]))
}

export const StateLive = HttpApiBuilder.group(Api.Api, "state", (handlers) =>
  Effect.gen(function*() {
    const state = yield* SharedState.SharedState
    const notFound = (key: string) => new Api.NotFound({ message: `no key ${key}`, kind: "state", id: key })
    return handlers
      .handle("get", ({ path }) =>
        state.get(path.key).pipe(
          Effect.catchTags({ InvalidInput: () => Effect.fail(notFound(path.key)), StoreError: (e) => Effect.die(e) }),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(notFound(path.key)),
            onSome: (entry) => Effect.succeed(entry)
          }))
        ))
      .handle("put", ({ headers, path, payload }) =>
        Effect.gen(function*() {
          if (path.key.startsWith("demo/")) {
            return yield* new Api.InvalidRequest({
              message: "keys under demo/ are the service's own (its task ledger)"
            })
          }
          const expectedVersion = yield* parseIfMatch(headers["if-match"])
          const result = yield* state.set(path.key, payload.value as never, {
            agent: payload.agent ?? "http",
            strategy: "reject",
            ...(expectedVersion === undefined ? {} : { expectedVersion })
          }).pipe(
            Effect.catchTags({
              VersionConflict: (e) =>
                Effect.fail(
                  new Api.Conflict({
                    message: `${e.key} is at version ${e.currentVersion}, not ${e.expectedVersion}`,
                    key: e.key,
                    expectedVersion: e.expectedVersion,
                    currentVersion: e.currentVersion
                  })
                ),
              InvalidValue: (e) => Effect.fail(new Api.InvalidRequest({ message: `${e.key}: ${e.reason}` })),
              InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
              // The key's state refuses the write (another agent holds its lock): a conflict, not a bad request.
              KeyLocked: (e) =>
                Effect.fail(new Api.InvalidState({ message: `${e.key} is locked by ${e.holder}`, id: e.key })),
              StaleFence: (e) => Effect.fail(new Api.InvalidState({ message: `stale fence on ${e.key}`, id: e.key })),
              StoreError: (e) => Effect.die(e)
            })
          )
          return Option.getOrThrow(result.entry)
        }))
  }))

export const BudgetLive = HttpApiBuilder.group(Api.Api, "budget", (handlers) =>
  Effect.gen(function*() {
    const budget = yield* TokenBudget.TokenBudget
    const history = yield* SpendHistory
    return handlers
      .handle("dashboard", () => Effect.orDie(budget.dashboard()))
      .handle("history", ({ urlParams }) =>
        urlParams.since === undefined
          ? history.history
          : Effect.map(history.history, (h) => ({ ...h, samples: h.samples.filter((s) => s.at > urlParams.since!) })))
  }))

export const RouterLive = HttpApiBuilder.group(Api.Api, "router", (handlers) =>
  Effect.gen(function*() {
    const router = yield* Router.Router
    const log = yield* DecisionLog.DecisionLog
    return handlers
      .handle("report", () => Effect.orDie(router.budgetReport()))
      .handle("decisions", ({ urlParams }) => log.recent({ limit: urlParams.limit ?? 100 }))
      .handle("explain", ({ payload }) =>
        router.route(payload).pipe(
          Effect.map((decision) => ({ chosen: decision.model.name, decision })),
          Effect.catchTags({
            NoEligibleModel: (e) => Effect.succeed({ chosen: null, rejections: e.rejections }),
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            StoreError: (e) => Effect.die(e)
          })
        ))
  }))

export const MemoryLive = HttpApiBuilder.group(Api.Api, "memory", (handlers) =>
  Effect.gen(function*() {
    const memory = yield* AgentMemory.AgentMemory
    return handlers
      .handle("stats", () => Effect.orDie(memory.stats()))
      .handle("recall", ({ urlParams }) =>
        memory.recall({
          explain: true,
          includeTeam: true,
          topK: urlParams.topK ?? 10,
          ...(urlParams.query === undefined ? {} : { query: urlParams.query }),
          ...(urlParams.agent === undefined ? {} : { agent: urlParams.agent })
        }).pipe(
          Effect.catchTags({
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            EmbeddingFailed: (e) => Effect.die(e),
            StoreError: (e) => Effect.die(e)
          })
        ))
  }))

export const DeadLettersLive = HttpApiBuilder.group(Api.Api, "deadLetters", (handlers) =>
  Effect.gen(function*() {
    const dlq = yield* DeadLetterQueue.DeadLetterQueue
    const team = yield* Team
    const notFound = (id: string) => new Api.NotFound({ message: `no letter ${id}`, kind: "letter", id })
    return handlers
      .handle("list", ({ urlParams }) =>
        dlq.list({
          ...(urlParams.resolved === undefined ? {} : { resolved: urlParams.resolved === "true" }),
          ...(urlParams.order === undefined ? {} : { order: urlParams.order === "asc" ? "oldest" : "newest" }),
          ...(urlParams.cursor === undefined ? {} : { cursor: urlParams.cursor }),
          ...(urlParams.limit === undefined ? {} : { limit: urlParams.limit })
        }).pipe(
          Effect.catchTags({
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            StoreError: (e) => Effect.die(e)
          })
        ))
      .handle("summary", () => Effect.orDie(dlq.summary()))
      .handle("get", ({ path }) =>
        dlq.get(path.id).pipe(
          Effect.catchTags({ LetterNotFound: () => Effect.fail(notFound(path.id)), StoreError: (e) => Effect.die(e) })
        ))
      .handle("replay", ({ path }) => team.replay(path.id))
      .handle("resolve", ({ path, payload }) =>
        dlq.resolve(path.id, payload.note).pipe(
          Effect.catchTags({
            LetterNotFound: () => Effect.fail(notFound(path.id)),
            AlreadyResolved: () => Effect.fail(new Api.InvalidState({ message: "already resolved", id: path.id })),
            ReplayInProgress: () => Effect.fail(new Api.InvalidState({ message: "a replay holds it", id: path.id })),
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            StoreError: (e) => Effect.die(e)
          })
        ))
      .handle("purge", ({ payload }) =>
        dlq.purge({
          resolvedOlderThan: `${payload.resolvedOlderThanHours} hours`,
          ...(payload.unresolvedOlderThanHours === undefined
            ? {}
            : { unresolvedOlderThan: `${payload.unresolvedOlderThanHours} hours` })
        }).pipe(
          Effect.map((removed) => ({ removed })),
          Effect.catchTags({
            InvalidInput: (e) => Effect.fail(new Api.InvalidRequest({ message: e.message })),
            StoreError: (e) => Effect.die(e)
          })
        ))
  }))

export const SupervisorLive = HttpApiBuilder.group(Api.Api, "supervisor", (handlers) =>
  Effect.gen(function*() {
    const team = yield* Team
    const alerts = yield* Alerts
    return handlers
      .handle("snapshot", () => Effect.orDie(team.supervisor.snapshot))
      .handle("alerts", () => alerts.list)
  }))

/** Every group of the contract. */
export const layer = HttpApiBuilder.api(Api.Api).pipe(
  Layer.provide([
    HealthLive,
    TasksLive,
    WorkflowsLive,
    StateLive,
    BudgetLive,
    RouterLive,
    MemoryLive,
    DeadLettersLive,
    SupervisorLive
  ])
)
