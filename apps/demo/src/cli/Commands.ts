// The `agentos` command tree (`@effect/cli`): every leaf takes the
// connection options and `--json`, calls the service through the typed
// client, and prints a table (or the service's JSON answer verbatim).
import { Args, Command, Options } from "@effect/cli"
import type { HttpClient } from "@effect/platform"
import { Config, Console, Effect, Option, Schema } from "effect"
import type { Redacted } from "effect"
import * as Api from "../Api.js"
import * as Client from "./Client.js"
import { CliError, ExitCode } from "./Errors.js"
import { count, fields, percent, score, table, time, usd } from "./Table.js"

/** Where the CLI looks when neither `--url` nor `AGENTOS_URL` says (the service's default port). */
export const DEFAULT_URL = "http://127.0.0.1:3000"

// ---------------------------------------------------------------- common options

const common = {
  url: Options.text("url").pipe(
    Options.withDescription(`The service's base URL (default: AGENTOS_URL, else ${DEFAULT_URL})`),
    Options.withFallbackConfig(Config.string("AGENTOS_URL").pipe(Config.withDefault(DEFAULT_URL)))
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("The service's bearer token (default: AGENTOS_API_TOKEN)"),
    Options.withFallbackConfig(Config.redacted("AGENTOS_API_TOKEN")),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the service's answer as JSON"))
}

interface Common {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted>
  readonly json: boolean
}

/** What a command prints: the JSON answer, its table, and whether it counts as a failure. */
interface Output {
  readonly json: unknown
  readonly text: string
  readonly failure?: CliError
}

const printError = (c: Common) => (error: CliError) =>
  Console.error(
    c.json
      ? JSON.stringify({
        error: {
          exitCode: error.code,
          message: error.message,
          ...(error.body === undefined ? {} : { body: error.body })
        }
      })
      : `agentos: ${error.message}`
  )

/** Runs a command against the service: one client, one output, one error mapping. */
const call = <R>(
  c: Common,
  program: (client: Client.Client) => Effect.Effect<Output, unknown, R>
): Effect.Effect<void, CliError, R | HttpClient.HttpClient> => {
  const connection: Client.Connection = { url: c.url, token: c.token }
  return Effect.gen(function*() {
    const client = yield* Client.make(connection)
    const output = yield* Effect.mapError(program(client), Client.toCliError(connection))
    yield* Console.log(c.json ? JSON.stringify(output.json, null, 2) : output.text)
    if (output.failure !== undefined) return yield* output.failure
  }).pipe(Effect.tapError(printError(c)))
}

/** A group run without a subcommand: a usage error that names the subcommands. */
const chooseOne = (group: string, subcommands: ReadonlyArray<string>) => () =>
  Effect.fail(
    new CliError({
      code: ExitCode.Usage,
      message: `${group}: choose one of ${subcommands.join(", ")} (agentos ${group} --help)`
    })
  ).pipe(Effect.tapError(printError({ url: "", token: Option.none(), json: false })))

const id = (what: string) =>
  Args.text({ name: "id" }).pipe(
    Args.withSchema(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
    Args.withDescription(`The ${what}'s id`)
  )

const limit = Options.integer("limit").pipe(
  Options.withSchema(Schema.Int.pipe(Schema.between(1, 1000))),
  Options.withDescription("At most this many (1–1000)"),
  Options.optional
)
const cursor = Options.text("cursor").pipe(
  Options.withDescription("Continue after a previous page (its `next page` cursor)"),
  Options.optional
)

const optionally = <K extends string, A>(key: K, value: Option.Option<A>): { readonly [k in K]?: A } =>
  Option.match(value, { onNone: () => ({}), onSome: (a) => ({ [key]: a } as { [k in K]: A }) })

const nextPage = (next: string | undefined) => next === undefined ? "" : `\nnext page: --cursor ${next}`

// ---------------------------------------------------------------- dlq

const letterRow = (l: typeof Api.DeadLetter.Type) => [
  l.id,
  l.resolution === undefined ? "open" : `resolved (${l.resolution.kind})`,
  l.taskType,
  l.workflow?.id,
  l.workflow?.step,
  l.error.tag,
  l.attempts,
  l.replays,
  time(l.createdAt)
]
const letterHeaders = ["ID", "STATE", "TYPE", "WORKFLOW", "STEP", "ERROR", "ATTEMPTS", "REPLAYS", "CREATED"]

const letterFields = (l: typeof Api.DeadLetter.Type) =>
  fields([
    ["id", l.id],
    ["state", l.resolution === undefined ? "open" : "resolved"],
    ["task type", l.taskType],
    ["source", l.source],
    ["workflow", l.workflow?.id],
    ["failed step", l.workflow?.step],
    ["error", `${l.error.tag}: ${l.error.message}`],
    ["attempts", l.attempts],
    ["replays", l.replays],
    ["first attempt", time(l.firstAttemptAt)],
    ["last attempt", time(l.lastAttemptAt)],
    ["created", time(l.createdAt)],
    ["resolution", l.resolution === undefined ? undefined : `${l.resolution.kind}: ${l.resolution.note}`],
    ["resolved at", time(l.resolution?.at)],
    ["payload", l.payload]
  ])

const dlqList = Command.make("list", {
  ...common,
  status: Options.choice("status", ["open", "resolved", "all"]).pipe(
    Options.withDescription("Which letters (default: all)"),
    Options.withDefault("all" as const)
  ),
  order: Options.choice("order", ["asc", "desc"]).pipe(
    Options.withDescription(
      "By letter id (time-ordered): desc newest first (the default), asc oldest first; " +
        "pass the same --order with --cursor"
    ),
    Options.optional
  ),
  limit,
  cursor
}, (c) =>
  call(c, (client) =>
    client.deadLetters.list({
      urlParams: {
        ...(c.status === "all" ? {} : { resolved: c.status === "resolved" ? "true" as const : "false" as const }),
        ...optionally("order", c.order),
        ...optionally("limit", c.limit),
        ...optionally("cursor", c.cursor)
      }
    }).pipe(
      Effect.map((page) => ({
        json: Client.encode(Api.LetterPage)(page),
        text: table(letterHeaders, page.letters.map(letterRow)) + nextPage(page.nextCursor)
      }))
    ))).pipe(Command.withDescription("List dead letters, newest first (--order asc: oldest first)"))

const dlqShow = Command.make(
  "show",
  { ...common, id: id("letter") },
  (c) =>
    call(c, (client) =>
      client.deadLetters.get({ path: { id: c.id } }).pipe(
        Effect.map((letter) => ({ json: Client.encode(Api.DeadLetter)(letter), text: letterFields(letter) }))
      ))
).pipe(Command.withDescription("Show one dead letter: its error, attempts, payload, resolution"))

const dlqReplay = Command.make(
  "replay",
  { ...common, id: id("letter") },
  (c) =>
    call(c, (client) =>
      client.deadLetters.replay({ path: { id: c.id } }).pipe(
        Effect.map((result): Output =>
          result._tag === "Succeeded"
            ? {
              json: Client.encode(Api.ReplayResult)(result),
              text: `replayed letter ${c.id}: succeeded; it is resolved` +
                (result.letter.workflow === undefined ? "" : ` (workflow ${result.letter.workflow.id})`)
            }
            : {
              json: Client.encode(Api.ReplayResult)(result),
              text: `replayed letter ${c.id}: failed again (${result.failure.tag}: ${result.failure.message})`,
              failure: new CliError({
                code: ExitCode.Refused,
                message: `the replay of letter ${c.id} failed again; the letter stays open`
              })
            }
        )
      ))
).pipe(Command.withDescription("Replay a dead letter: its workflow resumes at the failed step; waits for it"))

const dlqResolve = Command.make(
  "resolve",
  {
    ...common,
    id: id("letter"),
    note: Options.text("note").pipe(
      Options.withSchema(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2_000))),
      Options.withDescription("Why it is resolved without a replay (required)")
    )
  },
  (c) =>
    call(c, (client) =>
      client.deadLetters.resolve({ path: { id: c.id }, payload: { note: c.note } }).pipe(
        Effect.map((letter) => ({
          json: Client.encode(Api.DeadLetter)(letter),
          text: `resolved letter ${letter.id}: ${letter.resolution?.note ?? c.note}`
        }))
      ))
).pipe(Command.withDescription("Resolve a dead letter by hand, with a note"))

const hours = (name: string, description: string) =>
  Options.float(name).pipe(
    Options.withSchema(Schema.Number.pipe(Schema.nonNegative())),
    Options.withDescription(description)
  )

const dlqPurge = Command.make("purge", {
  ...common,
  resolvedOlderThan: hours(
    "resolved-older-than-hours",
    "Remove resolved letters older than this many hours (required)"
  ),
  unresolvedOlderThan: hours(
    "unresolved-older-than-hours",
    "Also remove open letters older than this many hours (default: keep every open letter)"
  ).pipe(Options.optional)
}, (c) =>
  call(c, (client) =>
    client.deadLetters.purge({
      payload: {
        resolvedOlderThanHours: c.resolvedOlderThan,
        ...optionally("unresolvedOlderThanHours", c.unresolvedOlderThan)
      }
    }).pipe(Effect.map((json) => ({ json, text: `removed ${json.removed} letter(s)` }))))).pipe(
    Command.withDescription("Remove old dead letters")
  )

const dlqSubcommands = ["list", "show", "replay", "resolve", "purge"]
const dlq = Command.make("dlq", {}, chooseOne("dlq", dlqSubcommands)).pipe(
  Command.withDescription("Dead letters: list, show, replay, resolve, purge"),
  Command.withSubcommands([dlqList, dlqShow, dlqReplay, dlqResolve, dlqPurge])
)

// ---------------------------------------------------------------- workflows

type Workflow = typeof Api.WorkflowView.Type

const stateField = (state: unknown, key: string): string | undefined => {
  if (typeof state !== "object" || state === null) return undefined
  const value = (state as Record<string, unknown>)[key]
  return typeof value === "string" ? value : undefined
}

const stepsDone = (w: Workflow) => `${w.steps.filter((s) => s.status === "completed").length}/${w.steps.length}`
const failedStep = (w: Workflow) => w.steps.find((s) => s.status === "failed")?.name

const workflowRow = (w: Workflow) => [
  w.id,
  w.status,
  stateField(w.state, "agent"),
  stateField(w.state, "topic"),
  stepsDone(w),
  failedStep(w),
  w.run,
  time(w.updatedAt)
]

const failureText = (failure: unknown): string | undefined => {
  if (failure === undefined) return undefined
  const f = failure as { step?: unknown; error?: { tag?: unknown; message?: unknown } }
  return typeof f.step === "string" && typeof f.error?.tag === "string"
    ? `step ${f.step}: ${f.error.tag}: ${String(f.error.message ?? "")}`
    : JSON.stringify(failure)
}

const workflowText = (w: Workflow) =>
  [
    fields([
      ["id", w.id],
      ["name", w.name],
      ["status", w.status],
      ["agent", stateField(w.state, "agent")],
      ["topic", stateField(w.state, "topic")],
      ["run", w.run],
      ["steps done", stepsDone(w)],
      ["failure", failureText(w.failure)],
      ["created", time(w.createdAt)],
      ["updated", time(w.updatedAt)],
      ["completed", time(w.completedAt)]
    ]),
    "",
    table(["STEP", "STATUS", "ATTEMPTS"], w.steps.map((s) => [s.name, s.status, s.attempts]))
  ].join("\n")

const workflowsList = Command.make("list", {
  ...common,
  status: Options.choice("status", ["running", "completed", "failed", "cancelled"]).pipe(
    Options.withDescription("Only workflows in this status"),
    Options.optional
  ),
  order: Options.choice("order", ["asc", "desc"]).pipe(
    Options.withDescription(
      "By workflow id (time-ordered): asc oldest first (the default), desc newest first; " +
        "pass the same --order with --cursor"
    ),
    Options.optional
  ),
  limit,
  cursor
}, (c) =>
  call(c, (client) =>
    client.workflows.list({
      urlParams: {
        ...optionally("status", c.status),
        ...optionally("order", c.order),
        ...optionally("limit", c.limit),
        ...optionally("cursor", c.cursor)
      }
    }).pipe(Effect.map((page) => ({
      json: page,
      text: table(
        ["ID", "STATUS", "AGENT", "TOPIC", "STEPS", "FAILED STEP", "RUN", "UPDATED"],
        page.items.map(workflowRow)
      ) + nextPage(page.cursor)
    }))))).pipe(Command.withDescription("List research workflows, oldest first (--order desc: newest first)"))

const workflowsShow = Command.make(
  "show",
  { ...common, id: id("workflow") },
  (c) =>
    call(c, (client) =>
      client.workflows.get({ path: { id: c.id } }).pipe(
        Effect.map((w) => ({ json: w, text: workflowText(w) }))
      ))
).pipe(Command.withDescription("Show one workflow and the status and attempts of each step"))

const workflowsResume = Command.make(
  "resume",
  { ...common, id: id("workflow") },
  (c) =>
    call(c, (client) =>
      client.workflows.retry({ path: { id: c.id } }).pipe(
        Effect.map((accepted) => ({
          json: accepted,
          text: `workflow ${accepted.workflowId} accepted again as task ${accepted.id}: ` +
            "it resumes at its first step not completed"
        }))
      ))
).pipe(
  Command.withDescription("Resume a failed or cancelled workflow at its first step not completed (queued as a task)")
)

const cancelOutcome = (what: string, outcome: "cancelled" | "requested" | "already-completed"): Output => {
  switch (outcome) {
    case "cancelled":
      return { json: { outcome }, text: `${what}: cancelled` }
    case "requested":
      return { json: { outcome }, text: `${what}: cancellation requested; it stops at its next step` }
    case "already-completed":
      return {
        json: { outcome },
        text: `${what}: already completed; nothing to cancel`,
        failure: new CliError({ code: ExitCode.Refused, message: `${what} has already completed` })
      }
  }
}

const workflowsCancel = Command.make(
  "cancel",
  { ...common, id: id("workflow") },
  (c) =>
    call(c, (client) =>
      client.workflows.cancel({ path: { id: c.id } }).pipe(
        Effect.map(({ outcome }) => cancelOutcome(`workflow ${c.id}`, outcome))
      ))
).pipe(Command.withDescription("Cancel a workflow (a running one stops at its next step)"))

const workflowsSubcommands = ["list", "show", "resume", "cancel"]
const workflows = Command.make("workflows", {}, chooseOne("workflows", workflowsSubcommands)).pipe(
  Command.withDescription("Research workflows: list, show, resume, cancel"),
  Command.withSubcommands([workflowsList, workflowsShow, workflowsResume, workflowsCancel])
)

// ---------------------------------------------------------------- tasks

const tasksShow = Command.make(
  "show",
  { ...common, id: id("task") },
  (c) =>
    call(c, (client) =>
      client.tasks.get({ path: { id: c.id } }).pipe(
        Effect.map((t) => ({
          json: t,
          text: fields([
            ["id", t.id],
            ["type", t.type],
            ["status", t.status],
            ["agent", t.agent],
            ["topic", t.topic],
            ["workflow", t.workflowId],
            ["submitted", time(t.submittedAt)],
            ["finished", time(t.finishedAt)],
            ["error", t.error]
          ])
        }))
      ))
).pipe(Command.withDescription("Show one task: status, agent, topic, its workflow"))

// The service cancels a task (`POST /tasks/:id/cancel`): a queued one is dropped (it never runs), a running
// one's workflow stops at its next step. A task that has ended is refused (409, exit 5).
const tasksCancel = Command.make(
  "cancel",
  { ...common, id: id("task") },
  (c) =>
    call(c, (client) =>
      client.tasks.cancel({ path: { id: c.id } }).pipe(
        Effect.map((answer) => ({
          json: answer,
          text: answer.outcome === "cancelled"
            ? `task ${c.id}: cancelled`
            : `task ${c.id}: cancellation requested; its workflow stops at its next step`
        }))
      ))
).pipe(
  Command.withDescription("Cancel a task: a queued one never runs; a running one's workflow stops at its next step")
)

const tasks = Command.make("tasks", {}, chooseOne("tasks", ["show", "cancel"])).pipe(
  Command.withDescription("Tasks: show, cancel"),
  Command.withSubcommands([tasksShow, tasksCancel])
)

// ---------------------------------------------------------------- budget

const budget = Command.make("budget", common, (c) =>
  call(c, (client) =>
    client.budget.dashboard().pipe(
      Effect.map((d) => ({
        json: Client.encode(Api.BudgetDashboard)(d),
        text: [
          fields([
            ["team", d.team],
            ["period", d.period],
            ["total", count(d.total)],
            ["allocated", count(d.allocated)],
            ["used", count(d.used)],
            ["reserved", count(d.reserved)],
            ["remaining", count(d.remaining)],
            ["utilisation", percent(d.utilisation)],
            ["overage", count(d.overage)],
            ["open reservations", d.outstandingReservations],
            ["steals / reclaims", `${d.steals} / ${d.reclaims}`]
          ]),
          "",
          table(
            ["AGENT", "WEIGHT", "ALLOCATED", "USED", "RESERVED", "REMAINING", "LENT", "BORROWED", "UTILISATION"],
            d.agents.map((a) => [
              a.id,
              a.weight,
              count(a.allocated),
              count(a.used),
              count(a.reserved),
              count(a.remaining),
              count(a.lent),
              count(a.borrowed),
              percent(a.utilisation)
            ])
          )
        ].join("\n")
      }))
    ))).pipe(Command.withDescription("The team's token budget: per agent allocated, used, reserved, remaining"))

// ---------------------------------------------------------------- route

const rejectionTable = (rejections: ReadonlyArray<typeof Api.Rejection.Type>) =>
  table(
    ["MODEL", "WHY NOT", "EST. COST", "EST. LATENCY"],
    rejections.map((r) => [
      r.model,
      r.reasons.join(", "),
      usd(r.estimatedCost),
      r.estimatedLatencyMillis === undefined ? undefined : `${Math.round(r.estimatedLatencyMillis)} ms`
    ])
  )

const route = Command.make("route", {
  ...common,
  explain: Options.boolean("explain").pipe(
    Options.withDescription("Also list every other model of the catalog and why it was not chosen")
  ),
  prompt: Options.text("prompt").pipe(
    Options.withSchema(Schema.String.pipe(Schema.maxLength(100_000))),
    Options.withDescription("The prompt (its tokens are counted; its complexity estimated)"),
    Options.optional
  ),
  inputTokens: Options.integer("input-tokens").pipe(
    Options.withSchema(Schema.Int.pipe(Schema.between(0, 10_000_000))),
    Options.withDescription("Input tokens, instead of a prompt"),
    Options.optional
  ),
  outputTokens: Options.integer("output-tokens").pipe(
    Options.withSchema(Schema.Int.pipe(Schema.between(0, 1_000_000))),
    Options.withDescription("Expected output tokens (default 500)"),
    Options.withDefault(500)
  ),
  complexity: Options.choice("complexity", ["trivial", "simple", "moderate", "complex", "expert"]).pipe(
    Options.withDescription("The task's complexity, instead of the estimate"),
    Options.optional
  ),
  requires: Options.choice("requires", ["tools", "vision", "json", "streaming"]).pipe(
    Options.withDescription("A capability the model must have (repeatable)"),
    Options.repeated
  ),
  maxLatency: Options.float("max-latency-ms").pipe(
    Options.withSchema(Schema.Number.pipe(Schema.positive())),
    Options.withDescription("The slowest acceptable answer, in milliseconds"),
    Options.optional
  )
}, (c) =>
  call(c, (client) =>
    client.router.explain({
      payload: {
        outputTokens: c.outputTokens,
        ...optionally("prompt", c.prompt),
        ...optionally("inputTokens", c.inputTokens),
        ...optionally("complexity", c.complexity),
        ...optionally("maxLatencyMillis", c.maxLatency),
        ...(c.requires.length === 0 ? {} : { requires: c.requires })
      }
    }).pipe(
      Effect.map((e): Output => {
        if (e.chosen === null) {
          return { json: Client.encode(Api.Explained)(e), text: `no eligible model\n\n${rejectionTable(e.rejections)}` }
        }
        const d = e.decision
        const chosen = fields([
          ["model", `${d.model.name} (${d.model.provider})`],
          ["complexity", d.complexity],
          ["tokens", `${count(d.inputTokens)} in, ${count(d.outputTokens)} out`],
          ["estimated cost", usd(d.estimatedCost)],
          ["estimated latency", `${Math.round(d.estimatedLatencyMillis)} ms`],
          [
            "reference",
            d.reference === undefined ? undefined : `${d.reference.model} ${usd(d.reference.estimatedCost)}`
          ],
          ["saving", usd(d.saving)]
        ])
        return {
          json: Client.encode(Api.Explained)(e),
          text: c.explain ? `${chosen}\n\n${rejectionTable(d.rejected)}` : chosen
        }
      })
    ))).pipe(Command.withDescription("Which model the router would pick for a request, and with --explain why"))

// ---------------------------------------------------------------- memory

const terms = (x: typeof Api.ScoreExplanation.Type) => [
  score(x.importance.contribution),
  score(x.decay.contribution),
  score(x.recency.contribution),
  score(x.frequency.contribution),
  score(x.relevance?.contribution),
  x.floored ? "yes" : "no"
]
const termHeaders = ["IMPORTANCE", "DECAY", "RECENCY", "FREQUENCY", "RELEVANCE", "FLOORED"]

const memoryRecall = Command.make("recall", {
  ...common,
  explain: Options.boolean("explain").pipe(
    Options.withDescription("Add each score's terms, and what decay pushed below the cut")
  ),
  query: Options.text("query").pipe(
    Options.withSchema(Schema.String.pipe(Schema.maxLength(2_000))),
    Options.withDescription("What to recall (relevance by BM25); without it, by importance and recency"),
    Options.optional
  ),
  agent: Options.text("agent").pipe(
    Options.withDescription("The agent whose memory (and the team's); without it, the team's"),
    Options.optional
  ),
  topK: Options.integer("top-k").pipe(
    Options.withSchema(Schema.Int.pipe(Schema.between(1, 100))),
    Options.withDescription("At most this many (1–100, default 10)"),
    Options.optional
  )
}, (c) =>
  call(c, (client) =>
    client.memory.recall({
      urlParams: { ...optionally("query", c.query), ...optionally("agent", c.agent), ...optionally("topK", c.topK) }
    }).pipe(
      Effect.map((r) => {
        const base = (m: typeof r.memories[number]) => [
          score(m.score),
          m.source,
          m.memory.type,
          m.memory.agent,
          m.memory.text
        ]
        const headers = ["SCORE", "SOURCE", "TYPE", "AGENT", "TEXT"]
        if (!c.explain) return { json: Client.encode(Api.Recall)(r), text: table(headers, r.memories.map(base)) }
        const recalled = table(
          [...headers, ...termHeaders],
          r.memories.map((m) => [...base(m), ...(m.explanation === undefined ? [] : terms(m.explanation))])
        )
        const below = table(
          ["SCORE", "WITHOUT DECAY", "SOURCE", "TYPE", "TEXT", ...termHeaders],
          (r.belowCut ?? []).map((m) => [
            score(m.score),
            score(m.undecayedScore),
            m.source,
            m.memory.type,
            m.memory.text,
            ...terms(m.explanation)
          ])
        )
        return {
          json: Client.encode(Api.Recall)(r),
          text: `${recalled}\n\nbelow the cut (decay pushed them out):\n${below}`
        }
      })
    ))).pipe(Command.withDescription("Recall from the team's memory, best first; --explain shows every score's terms"))

const memory = Command.make("memory", {}, chooseOne("memory", ["recall"])).pipe(
  Command.withDescription("The team's memory: recall"),
  Command.withSubcommands([memoryRecall])
)

// ---------------------------------------------------------------- root

/** The `agentos` command and every subcommand. */
export const agentos = Command.make(
  "agentos",
  {},
  chooseOne("agentos", [
    "dlq",
    "workflows",
    "tasks",
    "budget",
    "route",
    "memory"
  ])
).pipe(
  Command.withDescription("Operate a running AgentOS service over its HTTP API"),
  Command.withSubcommands([dlq, workflows, tasks, budget, route, memory])
)
