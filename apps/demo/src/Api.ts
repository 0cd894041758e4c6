// The HTTP contract of the reference service: one `HttpApiGroup` per domain,
// every error a tagged schema annotated with its status. Every error body has
// one shape: `{ "_tag": "<what happened>", "message": "<for a human>", ...data }`
// (the request decoder's own `HttpApiDecodeError` has it too: `_tag`,
// `message`, `issues`).
import * as Budget from "@agentos/budget/Budget"
import * as Checkpoint from "@agentos/checkpoint/Checkpoint"
import * as Complexity from "@agentos/core/Complexity"
import * as Failure from "@agentos/core/Failure"
import * as Json from "@agentos/core/Json"
import * as Money from "@agentos/core/Money"
import * as Letter from "@agentos/dlq/Letter"
import * as Memory from "@agentos/memory/Memory"
import * as RouterErrors from "@agentos/router/Errors"
import * as Model from "@agentos/router/Model"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"

// ---------------------------------------------------------------- errors

/** 400: the request is not valid (a field, an unknown agent, a bad header); nothing changed. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 400 })) {}

/** 400: no task type of that name is registered. */
export class UnknownTaskType extends Schema.TaggedError<UnknownTaskType>()("UnknownTaskType", {
  message: Schema.String,
  taskType: Schema.String,
  known: Schema.Array(Schema.String)
}, HttpApiSchema.annotations({ status: 400 })) {}

/** 401: `AGENTOS_API_TOKEN` is set and the request did not carry it as a bearer token. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 401 })) {}

/** 404: nothing with that id (or no route with that path). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  message: Schema.String,
  kind: Schema.String,
  id: Schema.String
}, HttpApiSchema.annotations({ status: 404 })) {}

/** 409: the write's version is not the current one; nothing was written. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  message: Schema.String,
  key: Schema.String,
  expectedVersion: Schema.Int,
  currentVersion: Schema.Int
}, HttpApiSchema.annotations({ status: 409 })) {}

/** 409: the resource is not in a state that allows the operation (a replay in progress, already resolved). */
export class InvalidState extends Schema.TaggedError<InvalidState>()("InvalidState", {
  message: Schema.String,
  id: Schema.String
}, HttpApiSchema.annotations({ status: 409 })) {}

/** 413: the request body is larger than `AGENTOS_MAX_BODY_BYTES`. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  message: Schema.String,
  maxBytes: Schema.Int
}, HttpApiSchema.annotations({ status: 413 })) {}

/** 411: a request body without `Content-Length` (chunked): its size must be known before it is read. */
export class LengthRequired extends Schema.TaggedError<LengthRequired>()("LengthRequired", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 411 })) {}

/**
 * 429: backpressure (the task type's queue is full) or an exhausted budget
 * (tokens or money); the response also carries `Retry-After` (seconds).
 */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", {
  message: Schema.String,
  reason: Schema.Literal("backpressure", "budget"),
  retryAfterMillis: Schema.Int,
  scope: Schema.optional(Schema.String)
}, HttpApiSchema.annotations({ status: 429 })) {}

/**
 * 503: the service is starting or draining (SIGTERM) and admits no work, or
 * a store it decides admission with does not answer; with
 * `retryAfterMillis`, the response also carries `Retry-After` (seconds).
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String,
  retryAfterMillis: Schema.optional(Schema.Int)
}, HttpApiSchema.annotations({ status: 503 })) {}

/** 500: a store or a package failed; the message says which operation. */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 500 })) {}

// ---------------------------------------------------------------- shapes

// Every string a request gives that reaches a store is text every backend
// stores alike (no NUL, no lone surrogate): Postgres refuses such text, so
// without this a lookup by `%00` answered 500 there and 404 on SQLite.
const Text = Json.StorableString
const Id = Text.pipe(Schema.minLength(1), Schema.maxLength(200))
const IdPath = Schema.Struct({ id: Id })
const Limit = Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))

/** The `research` task's payload: what to research, and which agent of the team does it. */
export const ResearchPayload = Schema.Struct({
  topic: Schema.Trim.pipe(
    Schema.minLength(1),
    Schema.maxLength(500),
    Schema.filter((topic) => Json.textProblem("the topic", topic))
  ),
  agent: Schema.optional(Text)
})

export const SubmitTask = Schema.Struct({
  type: Text.pipe(Schema.minLength(1), Schema.maxLength(100)),
  payload: Schema.Unknown,
  priority: Schema.optional(Schema.Int.pipe(Schema.between(0, 9)))
})

export const TaskStatus = Schema.Literal("accepted", "completed", "failed", "cancelled")

export const TaskView = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  status: TaskStatus,
  agent: Schema.String,
  topic: Schema.String,
  workflowId: Schema.String,
  submittedAt: Schema.Int,
  finishedAt: Schema.optional(Schema.Int),
  error: Schema.optional(Schema.String)
})

export const Accepted = Schema.Struct({ id: Schema.String, workflowId: Schema.String, status: TaskStatus })

/**
 * What `POST /tasks/:id/cancel` did: `cancelled`, the task has ended
 * cancelled (it was queued: it never ran, its budget grant is released);
 * `requested`, it was running: its workflow stops at its next step (its
 * checkpoint kept) and the task then ends `cancelled`. `task` is the task as
 * it is when the answer is sent.
 */
export const TaskCancel = Schema.Struct({
  outcome: Schema.Literal("cancelled", "requested"),
  task: TaskView
})

export const StepView = Schema.Struct({
  name: Schema.String,
  status: Schema.Literal("completed", "failed", "pending"),
  attempts: Schema.Int
})

export const WorkflowView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: Schema.String,
  steps: Schema.Array(StepView),
  run: Schema.Int,
  state: Schema.Unknown,
  failure: Schema.optional(Schema.Unknown),
  createdAt: Schema.Int,
  updatedAt: Schema.Int,
  completedAt: Schema.optional(Schema.Int)
})

export const WorkflowPage = Schema.Struct({
  items: Schema.Array(WorkflowView),
  cursor: Schema.optional(Schema.String)
})

export const StateEntry = Schema.Struct({
  key: Schema.String,
  value: Schema.Unknown,
  version: Schema.Int,
  modifiedBy: Schema.Array(Schema.String),
  updatedAt: Schema.Int
})

export const StatePut = Schema.Struct({
  value: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  agent: Schema.optional(Text.pipe(Schema.minLength(1), Schema.maxLength(100)))
})

export const IfMatch = Schema.Struct({
  "if-match": Schema.optional(Schema.String)
})

export const ExplainRequest = Schema.Struct({
  prompt: Schema.optional(Schema.String.pipe(Schema.maxLength(100_000))),
  inputTokens: Schema.optional(Schema.Int.pipe(Schema.between(0, 10_000_000))),
  outputTokens: Schema.Int.pipe(Schema.between(0, 1_000_000)),
  complexity: Schema.optional(Schema.Literal("trivial", "simple", "moderate", "complex", "expert")),
  requires: Schema.optional(Schema.Array(Schema.Literal("tools", "vision", "json", "streaming"))),
  maxLatencyMillis: Schema.optional(Schema.Number.pipe(Schema.positive()))
})

export const RecallParams = Schema.Struct({
  query: Schema.optional(Text.pipe(Schema.maxLength(2_000))),
  agent: Schema.optional(Text),
  topK: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100)))
})

export const LetterListParams = Schema.Struct({
  resolved: Schema.optional(Schema.Literal("true", "false")),
  /** By letter id (time-ordered): `desc` (the default) newest first, `asc` oldest first; keep it with `cursor`. */
  order: Schema.optional(Schema.Literal("asc", "desc")),
  cursor: Schema.optional(Text),
  limit: Limit
})

export const ResolveBody = Schema.Struct({ note: Text.pipe(Schema.minLength(1), Schema.maxLength(2_000)) })

export const PurgeBody = Schema.Struct({
  resolvedOlderThanHours: Schema.Number.pipe(Schema.nonNegative()),
  unresolvedOlderThanHours: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
})

export const Alert = Schema.Struct({
  id: Schema.Int,
  at: Schema.Int,
  source: Schema.String,
  kind: Schema.String,
  message: Schema.String
})

// ---------------------------------------------------------------- answers of the packages
//
// Where a package exports the schema of what it returns (the budget's
// dashboard, a dead letter, a memory, a model, a routing rejection), the
// contract uses it. Where it exports only an interface (the router's report
// and decision log, the memory's recall and stats, the dead letter queue's
// page and summary, the supervisor's snapshot), the schema below mirrors it
// field for field; `test/ApiSchemas.test.ts` checks, at compile time, that
// each one and its interface are the same type both ways, so a field added to
// a package fails the build here rather than vanishing from the answer.

/** A memory (`@agentos/memory`'s `Memory.Memory`). */
export const MemoryEntry = Memory.Memory.annotations({ identifier: "Memory" })

/** A dead letter (`@agentos/dlq`'s `Letter.Letter`). */
export const DeadLetter = Letter.Letter

/** A model the router passed over, and why (`@agentos/router`'s `Errors.Rejection`). */
export const Rejection = RouterErrors.Rejection

/** `GET /budget`: the team's token budget (`@agentos/budget`'s `Budget.Dashboard`). */
export const BudgetDashboard = Budget.Dashboard

/**
 * One sample of the spend history: when (epoch ms), what the team's spend
 * scope has spent in its current period, what the same calls would have cost
 * on the router's reference model (the saving is the difference), the
 * scope's limit, and the team's token budget (used of total).
 */
export const SpendSample = Schema.Struct({
  at: Schema.Int,
  spentMicros: Schema.Int,
  referenceMicros: Schema.Int,
  budgetMicros: Schema.Int,
  tokensUsed: Schema.Int,
  tokenBudget: Schema.Int
}).annotations({ identifier: "SpendSample" })

/**
 * `GET /budget/history`: a sample every `intervalMillis` since the service
 * started, oldest first, at most `capacity` (the oldest go first); kept in
 * the process's memory (a restart starts a new history).
 */
export const BudgetHistory = Schema.Struct({
  scope: Schema.String,
  intervalMillis: Schema.Int,
  capacity: Schema.Int,
  samples: Schema.Array(SpendSample)
}).annotations({ identifier: "BudgetHistory" })

/**
 * `GET /budget/history?since=<epoch ms>`: only the samples taken after
 * `since` (a page that has the history asks for what is new).
 */
export const HistoryParams = Schema.Struct({
  since: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()))
})

/** One model's spend in a scope (`@agentos/router`'s `Spend.ModelSpend`). */
export const ModelSpend = Schema.Struct({
  model: Schema.String,
  calls: Schema.Number,
  spent: Money.Money,
  overage: Money.Money,
  reference: Money.Money,
  saving: Money.Money,
  estimatedCalls: Schema.Number
}).annotations({ identifier: "ModelSpend" })

/** One spend scope in its current period (`@agentos/router`'s `Spend.ScopeReport`). */
export const ScopeReport = Schema.Struct({
  scope: Schema.String,
  period: Schema.String,
  limit: Money.Money,
  spent: Money.Money,
  reserved: Money.Money,
  remaining: Money.Money,
  overage: Money.Money,
  calls: Schema.Number,
  resetsAt: Schema.Number,
  utilisation: Schema.Number,
  projected: Money.Money,
  byModel: Schema.Array(ModelSpend),
  saving: Money.Money
}).annotations({ identifier: "ScopeReport" })

/** `GET /router/report`: spend per scope and model (`@agentos/router`'s `Spend.BudgetReport`). */
export const RouterReport = Schema.Struct({
  at: Schema.Number,
  scopes: Schema.Array(ScopeReport)
}).annotations({ identifier: "RouterReport" })

/** One attempt of a routed call (`@agentos/router`'s `DecisionLog.Attempt`). */
export const DecisionAttempt = Schema.Struct({
  attempt: Schema.Number,
  model: Schema.UndefinedOr(Schema.String),
  provider: Schema.UndefinedOr(Schema.String),
  rejected: Schema.Array(Rejection),
  reservation: Schema.UndefinedOr(Schema.String),
  reserved: Schema.Number,
  outcome: Schema.Literal("succeeded", "failed", "interrupted", "no-model", "refused"),
  error: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  retryable: Schema.optional(Schema.Boolean),
  retryAfterMillis: Schema.optional(Schema.Number),
  charged: Schema.optional(Schema.Number),
  estimated: Schema.optional(Schema.Boolean),
  startedAt: Schema.Number,
  endedAt: Schema.Number
}).annotations({ identifier: "DecisionAttempt" })

/** `GET /router/decisions`, one routed call (`@agentos/router`'s `DecisionLog.Entry`), newest first. */
export const Decision = Schema.Struct({
  id: Schema.Number,
  method: Schema.Literal("generateText", "generateObject", "streamText"),
  scopes: Schema.Array(Schema.String),
  at: Schema.Number,
  outcome: Schema.Literal("succeeded", "failed", "interrupted"),
  attempts: Schema.Array(DecisionAttempt)
}).annotations({ identifier: "Decision" })

/** `GET /router/decisions?limit=n`: the newest `n` decisions (default 100, at most 1000). */
export const DecisionParams = Schema.Struct({ limit: Limit })

/** Where the router would send a request (`@agentos/router`'s `Route.RouteDecision`). */
export const RouteDecision = Schema.Struct({
  model: Model.Model,
  estimatedCost: Money.Money,
  estimatedLatencyMillis: Schema.Number,
  reserveCost: Money.Money,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  maxOutputTokens: Schema.Number,
  complexity: Complexity.Complexity,
  reference: Schema.UndefinedOr(Schema.Struct({ model: Schema.String, estimatedCost: Money.Money })),
  saving: Money.Money,
  rejected: Schema.Array(Rejection)
}).annotations({ identifier: "RouteDecision" })

/** `POST /router/explain`: the chosen model and why, or no model and why not each one. */
export const Explained = Schema.Union(
  Schema.Struct({ chosen: Schema.String, decision: RouteDecision }),
  Schema.Struct({ chosen: Schema.Null, rejections: Schema.Array(Rejection) })
).annotations({ identifier: "Explained" })

/** One term of an explained memory score (`@agentos/memory`'s `Memory.Term`). */
export const ScoreTerm = Schema.Struct({ value: Schema.Number, weight: Schema.Number, contribution: Schema.Number })

/** An explained memory score (`@agentos/memory`'s `Memory.Explanation`). */
export const ScoreExplanation = Schema.Struct({
  importance: ScoreTerm,
  decay: ScoreTerm,
  recency: ScoreTerm,
  frequency: ScoreTerm,
  relevance: Schema.UndefinedOr(ScoreTerm),
  weighted: Schema.Number,
  floor: Schema.Number,
  floored: Schema.Boolean
}).annotations({ identifier: "ScoreExplanation" })

const MemorySource = Schema.Literal("agent", "team")

/** `GET /memory/recall`: the memories, best first, and what decay pushed below the cut (`Memory.Recall`). */
export const Recall = Schema.Struct({
  memories: Schema.Array(Schema.Struct({
    memory: MemoryEntry,
    score: Schema.Number,
    source: MemorySource,
    explanation: Schema.optionalWith(ScoreExplanation, { exact: true })
  })),
  belowCut: Schema.optionalWith(
    Schema.Array(Schema.Struct({
      memory: MemoryEntry,
      score: Schema.Number,
      undecayedScore: Schema.Number,
      source: MemorySource,
      explanation: ScoreExplanation
    })),
    { exact: true }
  )
}).annotations({ identifier: "Recall" })

/** `GET /memory/stats`: live memories per type and source, and their scores (`Memory.Stats`). */
export const MemoryStats = Schema.Struct({
  total: Schema.Number,
  byType: Schema.Record({ key: Schema.String, value: Schema.Number }),
  team: Schema.Number,
  agents: Schema.Number,
  scores: Schema.Struct({
    min: Schema.Number,
    max: Schema.Number,
    mean: Schema.Number,
    p50: Schema.Number,
    p90: Schema.Number
  })
}).annotations({ identifier: "MemoryStats" })

/** `GET /dead-letters`: one page, newest first; `nextCursor` absent on the last (`Letter.Page`). */
export const LetterPage = Schema.Struct({
  letters: Schema.Array(DeadLetter),
  nextCursor: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "LetterPage" })

/** `GET /dead-letters/summary` (`@agentos/dlq`'s `Letter.Summary`). */
export const LetterSummary = Schema.Struct({
  total: Schema.Number,
  unresolved: Schema.Number,
  resolved: Schema.Number,
  byTaskType: Schema.Record({ key: Schema.String, value: Schema.Number }),
  byErrorType: Schema.Record({ key: Schema.String, value: Schema.Number }),
  oldestUnresolvedAgeMillis: Schema.UndefinedOr(Schema.Number),
  findings: Schema.Array(Letter.Finding)
}).annotations({ identifier: "LetterSummary" })

/** What a research task returns: its workflow and the report it wrote. */
export const ResearchResult = Schema.Struct({ workflowId: Schema.String, report: Schema.String })

/**
 * `POST /dead-letters/:id/replay`: the replayed workflow completed (the
 * letter is resolved, `result` is the run's) or failed again (the letter
 * stays open with one more attempt; `failure` is the new error).
 */
export const ReplayResult = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("Succeeded"), letter: DeadLetter, result: ResearchResult }),
  Schema.Struct({ _tag: Schema.Literal("Failed"), letter: DeadLetter, failure: Failure.FailureInfo })
).annotations({ identifier: "ReplayResult" })

/** A worker in the supervisor's snapshot (`@agentos/supervisor`'s `Task.WorkerSnapshot`). */
export const WorkerSnapshot = Schema.Struct({
  name: Schema.String,
  taskTypes: Schema.Array(Schema.String),
  state: Schema.Literal("idle", "busy", "overloaded", "removing"),
  circuit: Schema.Literal("closed", "open", "half-open"),
  inFlight: Schema.Number,
  maxConcurrent: Schema.Number,
  load: Schema.Number,
  completed: Schema.Number,
  errors: Schema.Number,
  averageLatencyMillis: Schema.Number
}).annotations({ identifier: "WorkerSnapshot" })

/** `GET /supervisor`: queues, groups and workers (`@agentos/supervisor`'s `Task.Snapshot`). */
export const SupervisorSnapshot = Schema.Struct({
  load: Schema.Number,
  queueDepth: Schema.Record({ key: Schema.String, value: Schema.Number }),
  groups: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ queued: Schema.Number, running: Schema.Number })
  }),
  running: Schema.Number,
  workers: Schema.Array(WorkerSnapshot)
}).annotations({ identifier: "SupervisorSnapshot" })

// ---------------------------------------------------------------- groups

export class HealthApi extends HttpApiGroup.make("health", { topLevel: true })
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(Schema.Struct({ status: Schema.Literal("ok") })))
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
  )
  .annotate(OpenApi.Description, "Liveness, readiness (no token needed) and Prometheus metrics")
{}

export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.post("submit", "/tasks")
      .setPayload(SubmitTask)
      .addSuccess(Accepted, { status: 202 })
      .addError(UnknownTaskType)
      .addError(InvalidRequest)
      .addError(TooManyRequests)
      .addError(Unavailable)
  )
  .add(HttpApiEndpoint.get("get", "/tasks/:id").setPath(IdPath).addSuccess(TaskView).addError(NotFound))
  .add(
    HttpApiEndpoint.post("cancel", "/tasks/:id/cancel")
      .setPath(IdPath)
      .addSuccess(TaskCancel)
      .addError(NotFound)
      .addError(InvalidState)
  )
  .annotate(
    OpenApi.Description,
    "Submit a task (type `research`) to the supervisor; read it back by id; cancel it (a queued task is dropped, " +
      "a running one's workflow stops at its next step; 409 `InvalidState` once it has ended)"
  )
{}

export class WorkflowsApi extends HttpApiGroup.make("workflows")
  .add(
    HttpApiEndpoint.post("start", "/workflows")
      .setPayload(ResearchPayload)
      .addSuccess(Accepted, { status: 202 })
      .addError(InvalidRequest)
      .addError(TooManyRequests)
      .addError(Unavailable)
  )
  .add(
    HttpApiEndpoint.get("list", "/workflows")
      .setUrlParams(Schema.Struct({
        status: Schema.optional(Schema.Literal("running", "completed", "failed", "cancelled")),
        /** By workflow id: `asc` (the default) oldest first, `desc` newest first (ids are time-ordered). */
        order: Schema.optional(Checkpoint.ListOrder),
        cursor: Schema.optional(Text),
        limit: Limit
      }))
      .addSuccess(WorkflowPage)
      .addError(InvalidRequest)
  )
  .add(HttpApiEndpoint.get("get", "/workflows/:id").setPath(IdPath).addSuccess(WorkflowView).addError(NotFound))
  .add(
    HttpApiEndpoint.post("cancel", "/workflows/:id/cancel")
      .setPath(IdPath)
      .addSuccess(Schema.Struct({ outcome: Schema.Literal("cancelled", "requested", "already-completed") }))
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("retry", "/workflows/:id/retry")
      .setPath(IdPath)
      .addSuccess(Accepted, { status: 202 })
      .addError(NotFound)
      .addError(InvalidState)
      .addError(InvalidRequest)
      .addError(TooManyRequests)
      .addError(Unavailable)
  )
  .annotate(
    OpenApi.Description,
    "The research workflow: start (as a supervisor task), list (`order=desc` newest first), read per-step status, " +
      "cancel, retry"
  )
{}

export class StateApi extends HttpApiGroup.make("state")
  .add(
    HttpApiEndpoint.get("get", "/state/:key").setPath(Schema.Struct({ key: Id })).addSuccess(StateEntry).addError(
      NotFound
    )
  )
  .add(
    HttpApiEndpoint.put("put", "/state/:key")
      .setPath(Schema.Struct({ key: Id }))
      .setHeaders(IfMatch)
      .setPayload(StatePut)
      .addSuccess(StateEntry)
      .addError(Conflict)
      .addError(InvalidState)
      .addError(InvalidRequest)
  )
  .annotate(
    OpenApi.Description,
    "Shared state: `If-Match: <version>` writes only over that version (0: only if absent); 409 carries the current " +
      "version (`Conflict`), or says the key is locked by an agent (`InvalidState`)"
  )
{}

export class BudgetApi extends HttpApiGroup.make("budget")
  .add(HttpApiEndpoint.get("dashboard", "/budget").addSuccess(BudgetDashboard))
  .add(
    HttpApiEndpoint.get("history", "/budget/history")
      .setUrlParams(HistoryParams)
      .addSuccess(BudgetHistory)
  )
  .annotate(
    OpenApi.Description,
    "The team's token budget: allocations, use, reservations, transfers; and the spend history since the start " +
      "(a sample every 5 s: spend, spend at the reference model's prices, the spend budget, tokens used)"
  )
{}

export class RouterApi extends HttpApiGroup.make("router")
  .add(HttpApiEndpoint.get("report", "/router/report").addSuccess(RouterReport))
  .add(
    HttpApiEndpoint.get("decisions", "/router/decisions")
      .setUrlParams(DecisionParams)
      .addSuccess(Schema.Array(Decision))
  )
  .add(
    HttpApiEndpoint.post("explain", "/router/explain").setPayload(ExplainRequest).addSuccess(Explained).addError(
      InvalidRequest
    )
  )
  .annotate(
    OpenApi.Description,
    "Spend per scope and model, the recent routing decisions, and why a request would go where"
  )
{}

export class MemoryApi extends HttpApiGroup.make("memory")
  .add(HttpApiEndpoint.get("stats", "/memory/stats").addSuccess(MemoryStats))
  .add(
    HttpApiEndpoint.get("recall", "/memory/recall").setUrlParams(RecallParams).addSuccess(Recall).addError(
      InvalidRequest
    )
  )
  .annotate(OpenApi.Description, "The team's memory: counts and scores; recall with every term of every score")
{}

export class DeadLettersApi extends HttpApiGroup.make("deadLetters")
  .add(
    HttpApiEndpoint.get("list", "/dead-letters").setUrlParams(LetterListParams).addSuccess(LetterPage).addError(
      InvalidRequest
    )
  )
  .add(HttpApiEndpoint.get("summary", "/dead-letters/summary").addSuccess(LetterSummary))
  .add(HttpApiEndpoint.get("get", "/dead-letters/:id").setPath(IdPath).addSuccess(DeadLetter).addError(NotFound))
  .add(
    HttpApiEndpoint.post("replay", "/dead-letters/:id/replay")
      .setPath(IdPath)
      .addSuccess(ReplayResult)
      .addError(NotFound)
      .addError(InvalidState)
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("resolve", "/dead-letters/:id/resolve")
      .setPath(IdPath)
      .setPayload(ResolveBody)
      .addSuccess(DeadLetter)
      .addError(NotFound)
      .addError(InvalidState)
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("purge", "/dead-letters/purge")
      .setPayload(PurgeBody)
      .addSuccess(Schema.Struct({ removed: Schema.Int }))
      .addError(InvalidRequest)
  )
  .annotate(
    OpenApi.Description,
    "Dead letters: list, read, replay (resumes the workflow at its failed step), resolve, purge"
  )
{}

export class SupervisorApi extends HttpApiGroup.make("supervisor")
  .add(HttpApiEndpoint.get("snapshot", "/supervisor").addSuccess(SupervisorSnapshot))
  .add(HttpApiEndpoint.get("alerts", "/alerts").addSuccess(Schema.Array(Alert)))
  .annotate(OpenApi.Description, "The supervisor's queues and workers; the alert stream gathered from every package")
{}

export class Api extends HttpApi.make("agentos")
  .add(HealthApi)
  .add(TasksApi)
  .add(WorkflowsApi)
  .add(StateApi)
  .add(BudgetApi)
  .add(RouterApi)
  .add(MemoryApi)
  .add(DeadLettersApi)
  .add(SupervisorApi)
  .addError(Unauthorized)
  .addError(PayloadTooLarge)
  .addError(LengthRequired)
  .addError(InternalError)
  .annotate(OpenApi.Title, "AgentOS reference service")
  .annotate(
    OpenApi.Description,
    "Every error body: { _tag, message, ...data }. With AGENTOS_API_TOKEN set, every route but /healthz and /readyz needs `Authorization: Bearer <token>`."
  )
{}
