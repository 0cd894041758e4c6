// The HTTP contract of the reference service: one `HttpApiGroup` per domain,
// every error a tagged schema annotated with its status. Every error body has
// one shape: `{ "_tag": "<what happened>", "message": "<for a human>", ...data }`
// (the request decoder's own `HttpApiDecodeError` has it too: `_tag`,
// `message`, `issues`).
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

/** 503: the service is starting or draining (SIGTERM) and admits no work. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503 })) {}

/** 500: a store or a package failed; the message says which operation. */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 500 })) {}

// ---------------------------------------------------------------- shapes

const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
const IdPath = Schema.Struct({ id: Id })
const Limit = Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))

/** The `research` task's payload: what to research, and which agent of the team does it. */
export const ResearchPayload = Schema.Struct({
  topic: Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(500)),
  agent: Schema.optional(Schema.String)
})

export const SubmitTask = Schema.Struct({
  type: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)),
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
  agent: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)))
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
  query: Schema.optional(Schema.String.pipe(Schema.maxLength(2_000))),
  agent: Schema.optional(Schema.String),
  topK: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100)))
})

export const LetterListParams = Schema.Struct({
  resolved: Schema.optional(Schema.Literal("true", "false")),
  cursor: Schema.optional(Schema.String),
  limit: Limit
})

export const ResolveBody = Schema.Struct({ note: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2_000)) })

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

const Json = Schema.Unknown

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
        cursor: Schema.optional(Schema.String),
        limit: Limit
      }))
      .addSuccess(WorkflowPage)
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
    "The research workflow: start (as a supervisor task), read per-step status, cancel, retry"
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
      .addError(InvalidRequest)
  )
  .annotate(
    OpenApi.Description,
    "Shared state: `If-Match: <version>` writes only over that version (0: only if absent); 409 carries the current version"
  )
{}

export class BudgetApi extends HttpApiGroup.make("budget")
  .add(HttpApiEndpoint.get("dashboard", "/budget").addSuccess(Json))
  .annotate(OpenApi.Description, "The team's token budget: allocations, use, reservations, transfers")
{}

export class RouterApi extends HttpApiGroup.make("router")
  .add(HttpApiEndpoint.get("report", "/router/report").addSuccess(Json))
  .add(HttpApiEndpoint.get("decisions", "/router/decisions").addSuccess(Schema.Array(Json)))
  .add(
    HttpApiEndpoint.post("explain", "/router/explain").setPayload(ExplainRequest).addSuccess(Json).addError(
      InvalidRequest
    )
  )
  .annotate(
    OpenApi.Description,
    "Spend per scope and model, the recent routing decisions, and why a request would go where"
  )
{}

export class MemoryApi extends HttpApiGroup.make("memory")
  .add(HttpApiEndpoint.get("stats", "/memory/stats").addSuccess(Json))
  .add(
    HttpApiEndpoint.get("recall", "/memory/recall").setUrlParams(RecallParams).addSuccess(Json).addError(
      InvalidRequest
    )
  )
  .annotate(OpenApi.Description, "The team's memory: counts and scores; recall with every term of every score")
{}

export class DeadLettersApi extends HttpApiGroup.make("deadLetters")
  .add(
    HttpApiEndpoint.get("list", "/dead-letters").setUrlParams(LetterListParams).addSuccess(Json).addError(
      InvalidRequest
    )
  )
  .add(HttpApiEndpoint.get("summary", "/dead-letters/summary").addSuccess(Json))
  .add(HttpApiEndpoint.get("get", "/dead-letters/:id").setPath(IdPath).addSuccess(Json).addError(NotFound))
  .add(
    HttpApiEndpoint.post("replay", "/dead-letters/:id/replay")
      .setPath(IdPath)
      .addSuccess(Json)
      .addError(NotFound)
      .addError(InvalidState)
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("resolve", "/dead-letters/:id/resolve")
      .setPath(IdPath)
      .setPayload(ResolveBody)
      .addSuccess(Json)
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
  .add(HttpApiEndpoint.get("snapshot", "/supervisor").addSuccess(Json))
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
