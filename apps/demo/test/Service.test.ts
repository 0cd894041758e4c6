// End-to-end: the service started in-process on a random port, spoken to over
// HTTP, on SQLite and (with AGENTOS_TEST_PG_URL) on Postgres.
import { IdGenerator } from "@agentos/core"
import { TaskQueue } from "@agentos/supervisor"
import { Backends } from "@agentos/testkit"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Layer, Logger, LogLevel, Option, Tracer } from "effect"
import * as Http from "node:http"
import * as Path from "node:path"
import * as Models from "../src/Models.js"
import * as Stack from "../src/Stack.js"
import { cancelledAfter, ESTIMATED_TOKENS, Team } from "../src/Team.js"
import { client, config, eventually, sharedBackends, sharedDatabase, start, tempDir, withToken } from "./harness.js"

/** A local webhook that records what it is sent, and answers `status`. */
const webhookAnswering = (status: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly received: Array<any>; readonly server: Http.Server }>((resume) => {
      const received: Array<any> = []
      const server = Http.createServer((req, res) => {
        let body = ""
        req.on("data", (chunk) => (body += chunk))
        req.on("end", () => {
          received.push(JSON.parse(body))
          res.statusCode = status
          res.end()
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`,
          received,
          server
        })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

const webhook = webhookAnswering(204)

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

const finished = (http: ReturnType<typeof client>, id: string) =>
  eventually(Effect.map(http.request("GET", `/tasks/${id}`), (r) => r.body?.status === "accepted" ? undefined : r.body))

for (const backend of Backends.sqlBackends()) {
  describe(`demo service over HTTP (${backend.name})`, () => {
    it.live(
      "a research workflow runs through every package and is visible on every route",
      () =>
        Effect.gen(function*() {
          const { base, state } = yield* start(config(), backend.layer)
          const http = client(base)

          const started = yield* http.request("POST", "/workflows", {
            body: { topic: "agent runtimes", agent: "analyst" }
          })
          assert.strictEqual(started.status, 202, started.text)
          const id: string = started.body.id
          const task = yield* finished(http, id)
          assert.strictEqual(task.status, "completed", JSON.stringify(task))
          assert.strictEqual(task.agent, "analyst")
          // The task is the supervisor's durable record (its id is the supervisor's); its workflow took its id.
          assert.strictEqual(task.workflowId, id)
          assert.notProperty(task, "supervisor")
          assert.isAtLeast(task.finishedAt, task.submittedAt)
          // No task record of the demo's own in shared state: the queue is the only ledger.
          assert.strictEqual((yield* Effect.orDie(state.list("demo/"))).entries.length, 0)

          // Per-step status and attempts from the checkpoint.
          const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
          assert.strictEqual(workflow.status, "completed")
          assert.deepStrictEqual(
            workflow.steps.map((s: any) => [s.name, s.status, s.attempts]),
            [
              ["gather-requirements", "completed", 1],
              ["search-sources", "completed", 1],
              ["synthesize", "completed", 1],
              ["format", "completed", 1]
            ]
          )
          assert.include(workflow.state.report, "# agent runtimes")
          const list = (yield* http.request("GET", "/workflows?status=completed")).body
          assert.deepStrictEqual(list.items.map((w: any) => w.id), [id])

          // Shared state written by the steps.
          const shared = yield* http.request("GET", `/state/${encodeURIComponent(`research/${id}`)}`)
          assert.strictEqual(shared.body.value.stage, "reported")
          assert.deepStrictEqual((yield* http.request("GET", "/state/team%2Fprogress")).body.value.reports, 1)

          // Memory: the step results and the report fact, recalled with explanations.
          const recall = (yield* http.request("GET", "/memory/recall?query=runtimes&topK=5")).body
          assert.isAbove(recall.memories.length, 0)
          assert.isDefined(recall.memories[0].explanation.relevance)
          assert.isAbove((yield* http.request("GET", "/memory/stats")).body.total, 0)

          // Four calls through the routed LanguageModel, charged to the agent's and the team's
          // spend scopes; their tokens committed to the task's budget grant.
          const decisions = (yield* http.request("GET", "/router/decisions")).body
          assert.strictEqual(decisions.length, 4)
          // `limit`: the newest ones only.
          assert.deepStrictEqual((yield* http.request("GET", "/router/decisions?limit=2")).body, decisions.slice(0, 2))
          for (const d of decisions) {
            assert.strictEqual(d.outcome, "succeeded")
            assert.deepStrictEqual(d.scopes, ["agent:analyst", "team:research"])
            assert.strictEqual(d.attempts.length, 1) // no fallback: the checkpoint engine is the layer that retries
            assert.isAbove(d.attempts[0].charged, 0)
            assert.isAbove(d.attempts[0].rejected.length, 0)
          }
          const report = (yield* http.request("GET", "/router/report")).body
          const teamSpend = report.scopes.find((s: any) => s.scope === "team:research")
          assert.strictEqual(teamSpend.spent, decisions.reduce((sum: number, d: any) => sum + d.attempts[0].charged, 0))
          const budget = (yield* http.request("GET", "/budget")).body
          const analyst = budget.agents.find((a: any) => a.id === "analyst")
          assert.isAbove(analyst.used, 0)
          assert.strictEqual(analyst.reserved, 0) // the admission grant was committed, not left held
          assert.strictEqual(budget.used, analyst.used)
          // The spend history: sampled from the start (every 5 s), oldest first, in the team's scope.
          const history = (yield* http.request("GET", "/budget/history")).body
          assert.deepStrictEqual([history.scope, history.intervalMillis], ["team:research", 5_000])
          assert.isAtLeast(history.samples.length, 1)
          assert.deepStrictEqual(Object.keys(history.samples[0]).sort(), [
            "at",
            "budgetMicros",
            "referenceMicros",
            "spentMicros",
            "tokenBudget",
            "tokensUsed"
          ])
          assert.strictEqual(history.samples[0].budgetMicros, 10_000_000)
          // `since`: only the samples taken after it.
          const last = history.samples.at(-1).at
          const since = (yield* http.request("GET", `/budget/history?since=${last}`)).body
          assert.isTrue(since.samples.every((s: any) => s.at > last), JSON.stringify(since.samples))
          assert.deepStrictEqual(
            (yield* http.request("GET", `/budget/history?since=${last - 1}`)).body.samples[0],
            history.samples.at(-1)
          )

          const explained = (yield* http.request("POST", "/router/explain", {
            body: { inputTokens: 2_000, outputTokens: 300, complexity: "simple" }
          })).body
          assert.isString(explained.chosen)
          assert.isAbove(explained.decision.rejected.length, 0)

          const snapshot = (yield* http.request("GET", "/supervisor")).body
          assert.strictEqual(snapshot.workers[0].completed, 1)
          assert.strictEqual((yield* http.request("GET", "/dead-letters/summary")).body.total, 0)

          // Health, metrics in Prometheus text, the OpenAPI document and its UI.
          assert.strictEqual((yield* http.request("GET", "/healthz")).status, 200)
          assert.strictEqual((yield* http.request("GET", "/readyz")).status, 200)
          const metrics = yield* http.request("GET", "/metrics")
          assert.strictEqual(metrics.status, 200)
          assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/)
          assert.match(metrics.text, /# TYPE agentos_checkpoint_steps_completed_total counter/)
          assert.match(metrics.text, /agentos_demo_http_requests_total\{method="POST",status="202"\} [1-9]\d*/)
          assert.match(metrics.text, /agentos_demo_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+/)
          const openapi = (yield* http.request("GET", "/openapi.json")).body
          assert.includeMembers(Object.keys(openapi.paths), ["/tasks", "/workflows/{id}", "/dead-letters/{id}/replay"])
          // A dead letter's payload and context are described by core's own JSON Schema annotations.
          assert.deepStrictEqual(openapi.components.schemas.Letter.properties.payload, {
            $ref: "#/components/schemas/JsonValue"
          })
          assert.includeMembers(
            openapi.components.schemas.JsonValue.anyOf.map((s: any) => s.type),
            ["null", "object", "array"]
          )
          assert.strictEqual(openapi.components.schemas.JsonObject.type, "object")
          assert.strictEqual((yield* http.request("GET", "/docs")).status, 200)

          // Workflows newest first (`order=desc`), or oldest first (the default).
          const second = yield* http.request("POST", "/workflows", { body: { topic: "second", agent: "lead" } })
          assert.strictEqual(second.status, 202, second.text)
          assert.strictEqual((yield* finished(http, second.body.id)).status, "completed")
          const ids = (query: string) =>
            Effect.map(http.request("GET", `/workflows?${query}`), (r) => r.body.items.map((w: any) => w.id))
          assert.deepStrictEqual(yield* ids("order=desc"), [second.body.id, id])
          assert.deepStrictEqual(yield* ids("order=asc"), [id, second.body.id])
          assert.deepStrictEqual(yield* ids(""), [id, second.body.id])
          const newest = (yield* http.request("GET", "/workflows?order=desc&limit=1")).body
          assert.deepStrictEqual(newest.items.map((w: any) => w.id), [second.body.id])
          assert.deepStrictEqual(yield* ids(`order=desc&limit=1&cursor=${newest.cursor}`), [id])
        }).pipe(Effect.scoped, quiet),
      { timeout: 60_000 }
    )

    it.live(
      "state: If-Match writes over that version only; a conflict answers 409 with the current version",
      () =>
        Effect.gen(function*() {
          const { base } = yield* start(config(), backend.layer)
          const http = client(base)
          const created = yield* http.request("PUT", "/state/notes%2Fa", {
            body: { value: { text: "one" } },
            headers: { "if-match": "0" }
          })
          assert.strictEqual(created.status, 200, created.text)
          assert.strictEqual(created.body.version, 1)
          const stale = yield* http.request("PUT", "/state/notes%2Fa", {
            body: { value: { text: "two" } },
            headers: { "if-match": "0" }
          })
          assert.strictEqual(stale.status, 409)
          assert.deepStrictEqual([stale.body._tag, stale.body.currentVersion], ["Conflict", 1])
          const next = yield* http.request("PUT", "/state/notes%2Fa", {
            body: { value: { text: "two" } },
            headers: { "if-match": "\"1\"" }
          })
          assert.strictEqual(next.body.version, 2)
          assert.strictEqual((yield* http.request("GET", "/state/notes%2Fa")).body.value.text, "two")
        }).pipe(Effect.scoped, quiet),
      { timeout: 30_000 }
    )

    it.live(
      "an exhausted token budget answers 429 with Retry-After, and records nothing",
      () =>
        Effect.gen(function*() {
          // Each agent's share is below one run's estimate.
          const { base, state } = yield* start(config({ tokenBudget: ESTIMATED_TOKENS }), backend.layer)
          const http = client(base)
          const refused = yield* http.request("POST", "/tasks", {
            body: { type: "research", payload: { topic: "too expensive", agent: "analyst" } }
          })
          assert.strictEqual(refused.status, 429, refused.text)
          assert.strictEqual(refused.body._tag, "TooManyRequests")
          assert.strictEqual(refused.body.reason, "budget")
          assert.isAtLeast(Number(refused.headers.get("retry-after")), 1)
          assert.strictEqual((yield* Effect.orDie(state.list(""))).entries.length, 0)
          assert.strictEqual((yield* http.request("GET", "/supervisor")).body.queueDepth.research, 0)
          assert.strictEqual((yield* http.request("GET", "/workflows")).body.items.length, 0)
        }).pipe(Effect.scoped, quiet),
      { timeout: 30_000 }
    )

    it.live(
      "a budget store that does not answer: 503 with Retry-After and none of the store's error, nothing recorded; " +
        "accepted again once it is back",
      () =>
        Effect.gen(function*() {
          const database = yield* Layer.build(backend.layer)
          const { base } = yield* start(config(), Layer.succeedContext(database))
          const http = client(base)
          const sql = (statement: string) =>
            Effect.orDie(Effect.provide(Effect.flatMap(SqlClient.SqlClient, (c) => c.unsafe(statement)), database))
          // The budget's agents are where every admission reads and writes: without them (renamed
          // away on Postgres; every write refused on the SQLite connection) it cannot decide.
          const away = backend.name === "sqlite"
            ? ["PRAGMA query_only = ON", "PRAGMA query_only = OFF"]
            : [
              "ALTER TABLE agentos_budget_agents RENAME TO agentos_budget_agents_away",
              "ALTER TABLE agentos_budget_agents_away RENAME TO agentos_budget_agents"
            ]
          yield* sql(away[0]!)
          const refused = yield* http.request("POST", "/tasks", {
            body: { type: "research", payload: { topic: "while the store is away", agent: "analyst" } }
          })
          assert.strictEqual(refused.status, 503, refused.text)
          assert.strictEqual(refused.body._tag, "Unavailable")
          assert.include(refused.body.message, "unavailable")
          for (const detail of ["agentos_budget", "readonly", "does not exist", "StoreError"]) {
            assert.notInclude(refused.text, detail)
          }
          assert.isAtLeast(Number(refused.headers.get("retry-after")), 1)
          assert.strictEqual((yield* http.request("GET", "/supervisor")).body.queueDepth.research, 0)
          yield* sql(away[1]!)
          const accepted = yield* http.request("POST", "/tasks", {
            body: { type: "research", payload: { topic: "once it is back", agent: "analyst" } }
          })
          assert.strictEqual(accepted.status, 202, accepted.text)
        }).pipe(Effect.scoped, quiet),
      { timeout: 30_000 }
    )

    it.live(
      "cancel a task: a queued one never runs and its grant is released; a running one's workflow stops; " +
        "an ended one is 409 and an unknown one 404, with nothing changed",
      () =>
        Effect.gen(function*() {
          // Model calls that never end on their own in this test; at most 2 runs of one agent at once:
          // the third of "lead" waits in the queue.
          // Leases long enough that a loaded machine does not lose one (a lost lease also ends a run).
          const { base } = yield* start(
            config({
              simLatency: Duration.minutes(10),
              leaseTtl: Duration.seconds(6),
              taskLease: Duration.seconds(20)
            }),
            backend.layer
          )
          const http = client(base)
          const ids: Array<string> = []
          for (const topic of ["one", "two", "three"]) {
            const r = yield* http.request("POST", "/tasks", {
              body: { type: "research", payload: { topic, agent: "lead" } }
            })
            assert.strictEqual(r.status, 202, r.text)
            ids.push(r.body.id)
          }
          const [running, other, queued] = ids as [string, string, string]
          const reserved = Effect.map(http.request("GET", "/budget"), (r) => r.body.reserved as number)
          assert.strictEqual(yield* reserved, 3 * ESTIMATED_TOKENS)
          const isRunning = (id: string) =>
            eventually(
              Effect.map(
                http.request("GET", `/workflows/${id}`),
                (r) => r.body?.status === "running" ? true : undefined
              )
            )
          yield* isRunning(running)
          yield* isRunning(other)

          // Queued: the supervisor drops it at once; its budget reservation is released.
          const dropped = yield* http.request("POST", `/tasks/${queued}/cancel`)
          assert.strictEqual(dropped.status, 200, dropped.text)
          assert.deepStrictEqual([dropped.body.outcome, dropped.body.task.id, dropped.body.task.status], [
            "cancelled",
            queued,
            "cancelled"
          ])
          assert.strictEqual(yield* reserved, 2 * ESTIMATED_TOKENS)
          assert.strictEqual((yield* http.request("GET", "/supervisor")).body.queueDepth.research, 0)

          // Running: the workflow is cancelled through the engine, which stops its step at its next
          // heartbeat; the task ends cancelled and its grant is settled.
          for (const id of [running, other]) {
            const stopped = yield* http.request("POST", `/tasks/${id}/cancel`)
            assert.strictEqual(
              stopped.status,
              200,
              `${stopped.text} ${(yield* http.request("GET", `/tasks/${id}`)).text}`
            )
            assert.deepStrictEqual([stopped.body.outcome, stopped.body.task.status], ["requested", "accepted"])
            const ended = yield* finished(http, id)
            assert.strictEqual(ended.status, "cancelled", JSON.stringify(ended))
            const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
            assert.strictEqual(workflow.status, "cancelled")
            assert.strictEqual(workflow.steps[3].status, "pending")
          }

          // Ended: 409 in the one error shape, and the task is left as it was.
          for (const id of ids) {
            const before = (yield* http.request("GET", `/tasks/${id}`)).body
            const refused = yield* http.request("POST", `/tasks/${id}/cancel`)
            assert.strictEqual(refused.status, 409, refused.text)
            assert.deepStrictEqual([refused.body._tag, refused.body.id], ["InvalidState", id])
            assert.strictEqual(refused.body.message, `task ${id} is already cancelled; nothing to cancel`)
            assert.deepStrictEqual((yield* http.request("GET", `/tasks/${id}`)).body, before)
          }
          const unknown = yield* http.request("POST", "/tasks/wf-nope/cancel")
          assert.deepStrictEqual([unknown.status, unknown.body._tag, unknown.body.kind], [404, "NotFound", "task"])

          // The dropped task never ran: no workflow. No dead letter; every grant settled.
          assert.strictEqual((yield* http.request("GET", `/workflows/${queued}`)).status, 404)
          assert.strictEqual((yield* http.request("GET", "/dead-letters/summary")).body.total, 0)
          assert.strictEqual(yield* reserved, 0)
        }).pipe(Effect.scoped, quiet),
      { timeout: 60_000 }
    )
  })
}

describe("demo service: a task cancel that meets a task gone from the queue", () => {
  // The task is read (`running`), then ends and is purged before the supervisor's cancel reaches
  // the queue: the supervisor's `TaskNotFound` is the API's 404, like every other unknown id.
  it.live(
    "answers NotFound, not InternalError",
    () =>
      Effect.gen(function*() {
        const settings = config({ simLatency: Duration.minutes(10) })
        const stores = yield* Layer.build(Layer.merge(Stack.storesMemory(settings), IdGenerator.layer))
        const queue = Context.get(stores, TaskQueue.TaskQueue)
        const gone = new Set<string>()
        const racing: TaskQueue.TaskQueueService = {
          ...queue,
          status: (id) =>
            Effect.map(
              queue.status(id),
              Option.map((t): TaskQueue.StoredTask => gone.has(id) ? { ...t, status: "running" } : t)
            ),
          cancel: (id) => gone.has(id) ? Effect.succeed({ _tag: "NotFound" as const }) : queue.cancel(id)
        }
        const context = yield* Layer.build(
          Stack.instance(settings, Models.layer(settings)).pipe(
            Layer.provide(Layer.succeedContext(Context.add(stores, TaskQueue.TaskQueue, racing)))
          )
        )
        const team = Context.get(context, Team)
        // At most two runs of one agent at once: the third waits in the queue, its workflow not started.
        const ids: Array<string> = []
        for (const topic of ["one", "two", "three"]) {
          ids.push((yield* team.submit({ type: "research", payload: { topic, agent: "lead" } })).id)
        }
        const third = ids[2]!
        yield* eventually(Effect.map(
          Effect.orDie(queue.status(ids[1]!)),
          (t) => Option.isSome(t) && t.value.status === "running" ? true : undefined
        ))
        assert.strictEqual(Option.getOrThrow(yield* Effect.orDie(queue.status(third))).status, "queued")
        gone.add(third)
        const error = yield* Effect.flip(team.cancel(third))
        assert.deepStrictEqual([error._tag, error.message], ["NotFound", `no task ${third}`])
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})

describe("demo service: bad input", () => {
  it.live(
    "every bad request gets its documented 4xx, never a 5xx, and nothing is written",
    () =>
      Effect.gen(function*() {
        const token = "s3cret-token"
        const { base, state } = yield* start(config(withToken(token)), Backends.sqlite())
        const http = client(base, token)
        const anonymous = client(base)
        const wrong = client(base, "not-the-token")
        const big = "x".repeat(5_000)
        const cases: ReadonlyArray<
          readonly [
            string,
            ReturnType<typeof client>,
            string,
            string,
            { body?: unknown; raw?: string; headers?: Record<string, string>; chunked?: boolean },
            number,
            string
          ]
        > = [
          ["malformed JSON", http, "POST", "/tasks", { raw: "{\"type\": \"research\"," }, 400, "InvalidRequest"],
          ["a body that is not an object", http, "POST", "/workflows", { raw: "[1,2]" }, 400, "HttpApiDecodeError"],
          [
            "wrong type of a field",
            http,
            "POST",
            "/tasks",
            { body: { type: 5, payload: {} } },
            400,
            "HttpApiDecodeError"
          ],
          ["a missing field", http, "POST", "/workflows", { body: { agent: "lead" } }, 400, "HttpApiDecodeError"],
          [
            "a payload of the wrong shape",
            http,
            "POST",
            "/tasks",
            { body: { type: "research", payload: { topic: 5 } } },
            400,
            "InvalidRequest"
          ],
          ["an empty topic", http, "POST", "/workflows", { body: { topic: "   " } }, 400, "HttpApiDecodeError"],
          [
            "an unknown task type",
            http,
            "POST",
            "/tasks",
            { body: { type: "summarize", payload: {} } },
            400,
            "UnknownTaskType"
          ],
          [
            "an unknown agent",
            http,
            "POST",
            "/workflows",
            { body: { topic: "x", agent: "mallory" } },
            400,
            "InvalidRequest"
          ],
          [
            "a priority out of range",
            http,
            "POST",
            "/tasks",
            { body: { type: "research", payload: { topic: "x" }, priority: 99 } },
            400,
            "HttpApiDecodeError"
          ],
          ["an oversized body", http, "POST", "/workflows", { body: { topic: big } }, 413, "PayloadTooLarge"],
          [
            "a chunked body",
            http,
            "POST",
            "/workflows",
            { body: { topic: big }, chunked: true },
            411,
            "LengthRequired"
          ],
          ["no token", anonymous, "GET", "/workflows", {}, 401, "Unauthorized"],
          ["a wrong token", wrong, "POST", "/workflows", { body: { topic: "x" } }, 401, "Unauthorized"],
          ["no token on the docs", anonymous, "GET", "/openapi.json", {}, 401, "Unauthorized"],
          ["no token on the metrics", anonymous, "GET", "/metrics", {}, 401, "Unauthorized"],
          ["an unknown task id", http, "GET", "/tasks/wf-nope", {}, 404, "NotFound"],
          ["an unknown workflow id", http, "GET", "/workflows/wf-nope", {}, 404, "NotFound"],
          ["cancel of an unknown workflow", http, "POST", "/workflows/wf-nope/cancel", {}, 404, "NotFound"],
          ["cancel of an unknown task", http, "POST", "/tasks/wf-nope/cancel", {}, 404, "NotFound"],
          ["retry of an unknown workflow", http, "POST", "/workflows/wf-nope/retry", {}, 404, "NotFound"],
          ["an unknown state key", http, "GET", "/state/nope", {}, 404, "NotFound"],
          ["an unknown letter", http, "GET", "/dead-letters/nope", {}, 404, "NotFound"],
          ["replay of an unknown letter", http, "POST", "/dead-letters/nope/replay", {}, 404, "NotFound"],
          [
            "resolve of an unknown letter",
            http,
            "POST",
            "/dead-letters/nope/resolve",
            { body: { note: "x" } },
            404,
            "NotFound"
          ],
          ["an unknown route", http, "GET", "/nope", {}, 404, "NotFound"],
          [
            "a bad If-Match",
            http,
            "PUT",
            "/state/k",
            { body: { value: {} }, headers: { "if-match": "abc" } },
            400,
            "InvalidRequest"
          ],
          [
            "a state value that is not an object",
            http,
            "PUT",
            "/state/k",
            { body: { value: [1] } },
            400,
            "HttpApiDecodeError"
          ],
          [
            "a write to the service's own keys",
            http,
            "PUT",
            "/state/demo%2Ftasks%2Fx",
            { body: { value: {} } },
            400,
            "InvalidRequest"
          ],
          ["a bad page size", http, "GET", "/workflows?limit=abc", {}, 400, "HttpApiDecodeError"],
          // Text no backend stores alike (Postgres refuses NUL): refused before any store sees it.
          ["a NUL in a task id", http, "GET", "/tasks/a%00b", {}, 400, "HttpApiDecodeError"],
          ["a NUL in a letter id", http, "POST", "/dead-letters/a%00b/replay", {}, 400, "HttpApiDecodeError"],
          ["a NUL in a cursor", http, "GET", "/workflows?cursor=a%00b", {}, 400, "HttpApiDecodeError"],
          ["a NUL in a topic", http, "POST", "/workflows", { body: { topic: "a\u0000b" } }, 400, "HttpApiDecodeError"],
          [
            "a lone surrogate in an agent",
            http,
            "POST",
            "/workflows",
            { body: { topic: "x", agent: "\uD800" } },
            400,
            "HttpApiDecodeError"
          ],
          ["a bad workflow order", http, "GET", "/workflows?order=newest", {}, 400, "HttpApiDecodeError"],
          ["a bad decision count", http, "GET", "/router/decisions?limit=0", {}, 400, "HttpApiDecodeError"],
          ["a bad history start", http, "GET", "/budget/history?since=-1", {}, 400, "HttpApiDecodeError"],
          [
            "a bad purge age",
            http,
            "POST",
            "/dead-letters/purge",
            { body: { resolvedOlderThanHours: -1 } },
            400,
            "HttpApiDecodeError"
          ]
        ]
        for (const [name, who, method, path, options, status, tag] of cases) {
          const response = yield* who.request(method, path, options)
          assert.strictEqual(response.status, status, `${name}: ${response.status} ${response.text}`)
          assert.strictEqual(response.body?._tag, tag, `${name}: ${response.text}`)
          assert.isString(response.body?.message, `${name}: every error has a message`)
        }
        // /healthz and /readyz need no token.
        assert.strictEqual((yield* anonymous.request("GET", "/healthz")).status, 200)
        assert.strictEqual((yield* anonymous.request("GET", "/readyz")).status, 200)
        // Nothing was written: no task, no workflow, no state, no letter, no tokens.
        assert.strictEqual((yield* Effect.orDie(state.list(""))).entries.length, 0)
        assert.strictEqual((yield* http.request("GET", "/workflows")).body.items.length, 0)
        assert.strictEqual((yield* http.request("GET", "/dead-letters/summary")).body.total, 0)
        const budget = (yield* http.request("GET", "/budget")).body
        assert.deepStrictEqual([budget.used, budget.reserved], [0, 0])
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})

/** A clock `offsetMillis` away from this machine's (another instance's, set wrong); it sleeps in real time. */
const skewedClock = (offsetMillis: number): Clock.Clock => {
  const now = () => Date.now() + offsetMillis
  const live = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
}

describe("demo service: a retry and a cancel on instances whose clocks differ", () => {
  // Instance A (its clock an hour ahead) cancels a workflow; instance B, on the same database,
  // retries it later. The retry was accepted after the cancel, so it runs, whatever A's clock said.
  it.live.each(sharedBackends)(
    "a retry accepted after the cancel runs the workflow to completion (%s)",
    (backend) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase(backend)
        const id = yield* Effect.scoped(Effect.gen(function*() {
          const { base } = yield* start(config({ simLatency: Duration.minutes(10) }), database())
          const http = client(base)
          const started = yield* http.request("POST", "/workflows", { body: { topic: "skew", agent: "lead" } })
          assert.strictEqual(started.status, 202, started.text)
          const id: string = started.body.id
          yield* eventually(Effect.map(
            http.request("GET", `/workflows/${id}`),
            (r) => r.body?.status === "running" ? true : undefined
          ))
          const cancelled = yield* http.request("POST", `/workflows/${id}/cancel`)
          assert.strictEqual(cancelled.status, 200, cancelled.text)
          assert.strictEqual((yield* finished(http, id)).status, "cancelled")
          const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
          assert.strictEqual(workflow.status, "cancelled")
          // Saved by A's clock: later than B will be when it accepts the retry.
          assert.isAbove(workflow.updatedAt, Date.now() + 30 * 60_000)
          return id
        })).pipe(Effect.withClock(skewedClock(60 * 60_000)))

        const { base } = yield* start(config(), database())
        const http = client(base)
        const retried = yield* http.request("POST", `/workflows/${id}/retry`)
        assert.strictEqual(retried.status, 202, retried.text)
        const task = yield* finished(http, retried.body.id)
        assert.strictEqual(task.status, "completed", JSON.stringify(task))
        const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
        assert.strictEqual(workflow.status, "completed")
        assert.strictEqual(workflow.run, 2)
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )

  it("the decision reads the checkpoint's epoch, never a time", () => {
    // Cancelled before the retry was accepted (the same checkpoint): the retry runs.
    assert.isFalse(cancelledAfter({ status: "cancelled", epoch: 4 }, { status: "cancelled", epoch: 4 }))
    // Cancelled after (a save under a later lease, or a failed workflow now cancelled): it does not.
    assert.isTrue(cancelledAfter({ status: "cancelled", epoch: 5 }, { status: "cancelled", epoch: 4 }))
    assert.isTrue(cancelledAfter({ status: "cancelled", epoch: 4 }, { status: "failed", epoch: 4 }))
    assert.isFalse(cancelledAfter({ status: "failed", epoch: 7 }, { status: "failed", epoch: 4 }))
    // A payload of an earlier version, without what it saw: the retry runs.
    assert.isFalse(cancelledAfter({ status: "cancelled", epoch: 5 }, undefined))
  })
})

describe("demo service: restarts", () => {
  it.live.each(sharedBackends)(
    "stopped mid-run and started again, every workflow completes (%s)",
    (backend) =>
      Effect.gen(function*() {
        const sqlite = yield* sharedDatabase(backend)
        const ids = yield* Effect.scoped(Effect.gen(function*() {
          // Slow model calls, a short drain: the stop catches work in flight and in the queue.
          const { base } = yield* start(
            config({ simLatency: Duration.millis(150), drainTimeout: Duration.millis(50) }),
            sqlite()
          )
          const http = client(base)
          const ids: Array<string> = []
          for (let i = 0; i < 10; i++) {
            const r = yield* http.request("POST", "/workflows", { body: { topic: `topic ${i}` } })
            assert.strictEqual(r.status, 202, r.text)
            ids.push(r.body.id)
          }
          // Wait until some step has been checkpointed, then stop.
          yield* eventually(Effect.map(http.request("GET", "/workflows?status=running"), (r) =>
            r.body.items.some((w: any) =>
                w.steps.some((s: any) =>
                  s.status === "completed"
                )
              )
              ? true
              : undefined))
          return ids
        }))
        const { base } = yield* start(config(), sqlite())
        const http = client(base)
        for (const id of ids) {
          const task = yield* finished(http, id)
          assert.strictEqual(task.status, "completed", `${id}: ${JSON.stringify(task)}`)
          const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
          assert.deepStrictEqual(
            workflow.steps.map((s: any) =>
              s.status
            ),
            ["completed", "completed", "completed", "completed"]
          )
        }
        // Every step counts one attempt: a step cut short by the stop ran again under the same attempt
        // (its side effects run at least once, so the team's counter may count a report twice).
        for (const id of ids) {
          const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
          assert.deepStrictEqual(workflow.steps.map((s: any) => s.attempts), [1, 1, 1, 1], id)
        }
        assert.isAtLeast((yield* http.request("GET", "/state/team%2Fprogress")).body.value.reports, ids.length)
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )

  it.live(
    "dead letters list newest first; order=asc oldest first; a cursor continues either order",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const { base } = yield* start(
          config({ simFailureRate: 1 }),
          SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
        )
        const http = client(base)
        // One after the other, so the letters' ids (time-ordered) follow the workflows.
        const workflows: Array<string> = []
        for (const topic of ["first outage", "second outage", "third outage"]) {
          const id: string = (yield* http.request("POST", "/workflows", { body: { topic } })).body.id
          assert.strictEqual((yield* finished(http, id)).status, "failed")
          workflows.push(id)
        }
        const list = (query: string) =>
          Effect.map(http.request("GET", `/dead-letters${query}`), (r) => {
            assert.strictEqual(r.status, 200, r.text)
            return r.body as { letters: Array<{ id: string; workflow: { id: string } }>; nextCursor?: string }
          })
        const newest = (yield* list("")).letters
        assert.deepStrictEqual(newest.map((l) => l.workflow.id), [...workflows].reverse())
        assert.deepStrictEqual((yield* list("?order=desc")).letters, newest)
        const oldest = (yield* list("?order=asc")).letters
        assert.deepStrictEqual(oldest.map((l) => l.workflow.id), workflows)
        for (const order of ["asc", "desc"] as const) {
          const first = yield* list(`?order=${order}&limit=2`)
          assert.isDefined(first.nextCursor)
          const rest = yield* list(`?order=${order}&cursor=${encodeURIComponent(first.nextCursor!)}`)
          assert.deepStrictEqual(
            [...first.letters, ...rest.letters].map((l) => l.id),
            (order === "asc" ? oldest : newest).map((l) => l.id)
          )
        }
        const bad = yield* http.request("GET", "/dead-letters?order=newest")
        assert.strictEqual(bad.status, 400)
      }).pipe(Effect.scoped),
    { timeout: 60_000 }
  )

  it.live(
    "a failed workflow becomes a dead letter; replayed after a restart, it resumes at its failed step",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const sqlite = () => SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
        const { id, letterId } = yield* Effect.scoped(Effect.gen(function*() {
          // Every model call fails: the engine retries the first step, then dead-letters the workflow.
          // The alert of the new letter is also POSTed to a webhook.
          const hook = yield* webhook
          const { base } = yield* start(
            config({ simFailureRate: 1, alertWebhook: Option.some(hook.url) }),
            sqlite()
          )
          const http = client(base)
          const id: string = (yield* http.request("POST", "/workflows", { body: { topic: "outage" } })).body.id
          const task = yield* finished(http, id)
          assert.strictEqual(task.status, "failed")
          assert.include(task.error, "StepFailed")
          const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
          assert.deepStrictEqual(workflow.steps[0], { name: "gather-requirements", status: "failed", attempts: 4 })
          const letters = (yield* http.request("GET", "/dead-letters?resolved=false")).body.letters
          assert.strictEqual(letters.length, 1)
          assert.strictEqual(letters[0].workflow.id, id)
          const alerts = yield* eventually(Effect.map(http.request("GET", "/alerts"), (r) =>
            r.body.some((a: any) => a.kind === "DeadLetter")
              ? r.body
              : undefined))
          assert.include(alerts[0].message, id)
          const delivered = yield* eventually(Effect.sync(() =>
            hook.received.length > 0 ? hook.received : undefined
          ))
          assert.strictEqual(delivered[0].type, "alert")
          assert.strictEqual(delivered[0].alert.kind, "DeadLetter")
          assert.include(delivered[0].alert.message, id)
          return { id, letterId: letters[0].id as string }
        }))
        const { base } = yield* start(config(), sqlite())
        const http = client(base)
        const replayed = yield* http.request("POST", `/dead-letters/${letterId}/replay`)
        assert.strictEqual(replayed.status, 200, replayed.text)
        assert.strictEqual(replayed.body._tag, "Succeeded")
        const letter = (yield* http.request("GET", `/dead-letters/${letterId}`)).body
        assert.isDefined(letter.resolution)
        const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
        assert.strictEqual(workflow.status, "completed")
        // The first task failed for good; the replay ran the workflow as a new task.
        assert.strictEqual((yield* http.request("GET", `/tasks/${id}`)).body.status, "failed")
        const again = yield* http.request("POST", `/dead-letters/${letterId}/replay`)
        assert.strictEqual(again.status, 409)
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )
})

describe("demo service: two instances on one Postgres", () => {
  it.live.skipIf(Backends.skipPostgres())(
    "share one queue: every workflow submitted to either completes exactly once, seen from both",
    () =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase("postgres")
        // Started one after the other (each runs its migrations), then both serve at once.
        const a = client((yield* start(config({ simLatency: Duration.millis(20) }), database())).base)
        const b = client((yield* start(config({ simLatency: Duration.millis(20) }), database())).base)
        const ids: Array<string> = []
        for (let i = 0; i < 12; i++) {
          const r = yield* (i % 2 === 0 ? a : b).request("POST", "/workflows", { body: { topic: `shared ${i}` } })
          assert.strictEqual(r.status, 202, r.text)
          ids.push(r.body.id)
        }
        for (const id of ids) {
          // Either instance answers for a task the other accepted or ran.
          assert.strictEqual((yield* finished(a, id)).status, "completed")
          assert.strictEqual((yield* finished(b, id)).status, "completed")
          const workflow = (yield* a.request("GET", `/workflows/${id}`)).body
          assert.deepStrictEqual(workflow.steps.map((s: any) => [s.status, s.attempts]), [
            ["completed", 1],
            ["completed", 1],
            ["completed", 1],
            ["completed", 1]
          ])
        }
        // Exactly once: the instances' workers completed as many tasks as were submitted between
        // them, and each workflow's last step counted its report once.
        const completed = (yield* Effect.forEach([a, b], (http) => http.request("GET", "/supervisor")))
          .map((r) => r.body.workers[0].completed as number)
        assert.strictEqual(completed[0]! + completed[1]!, ids.length, `a: ${completed[0]}, b: ${completed[1]}`)
        assert.strictEqual((yield* a.request("GET", "/state/team%2Fprogress")).body.value.reports, ids.length)
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )
})

describe("demo service: finished tasks", () => {
  it.live(
    "are purged after the configured retention; their workflows stay",
    () =>
      Effect.gen(function*() {
        // Retention is judged by the database's clock (the queue's purge), so real time, kept short.
        const { base } = yield* start(
          config({ taskRetention: Duration.seconds(1), taskPollInterval: Duration.millis(20) }),
          Backends.sqlite()
        )
        const http = client(base)
        const id: string = (yield* http.request("POST", "/workflows", { body: { topic: "short-lived" } })).body.id
        assert.strictEqual((yield* finished(http, id)).status, "completed")
        const gone = yield* eventually(
          Effect.map(http.request("GET", `/tasks/${id}`), (r) => r.status === 404 ? r.body : undefined)
        )
        assert.deepStrictEqual([gone._tag, gone.kind, gone.id], ["NotFound", "task", id])
        assert.strictEqual((yield* http.request("GET", `/workflows/${id}`)).body.status, "completed")
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})

describe("demo service: tracing", () => {
  it.live(
    "one trace runs from the HTTP request through the task and the workflow to every model call",
    () =>
      Effect.gen(function*() {
        const spans: Array<Tracer.Span> = []
        const base = yield* Effect.tracer
        const recording = Tracer.make({
          span: (...args) => {
            const span = base.span(...args)
            spans.push(span)
            return span
          },
          context: base.context
        })
        const { base: url } = yield* start(config(), Backends.sqlite()).pipe(Effect.withTracer(recording))
        const http = client(url)
        const id: string = (yield* http.request("POST", "/workflows", { body: { topic: "traces" } })).body.id
        assert.strictEqual((yield* finished(http, id)).status, "completed")
        const calls = spans.filter((s) => s.name === "Models.complete")
        assert.strictEqual(calls.length, 4)
        const byId = new Map(spans.map((s) => [s.spanId, s]))
        const ancestry = (span: Tracer.Span) => {
          const names: Array<string> = []
          let parent = Option.getOrUndefined(span.parent)
          while (parent !== undefined) {
            // The supervisor carries the submitter's span across its queue as an external span: follow it by id.
            const found = byId.get(parent.spanId)
            names.push(found?.name ?? parent.spanId)
            parent = found === undefined ? undefined : Option.getOrUndefined(found.parent)
          }
          return names
        }
        const http202 = spans.find((s) => s.name === "http.server POST")!
        for (const call of calls) {
          assert.strictEqual(call.traceId, http202.traceId)
          const names = ancestry(call)
          assert.include(names, "Supervisor.task")
          assert.include(names, "WorkflowEngine.execute")
          assert.strictEqual(names.at(-1), "http.server POST", names.join(" < "))
        }
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})

describe("demo service: backpressure", () => {
  it.live(
    "a full research queue answers 429 with Retry-After, and records nothing for the refused",
    () =>
      Effect.gen(function*() {
        // One queued task at most; slow model calls keep the workers busy.
        const { base } = yield* start(
          config({ maxQueued: 1, simLatency: Duration.millis(300), agents: ["a", "b", "c", "d", "e", "f"] }),
          Backends.sqlite()
        )
        const http = client(base)
        const responses = yield* Effect.forEach(
          ["a", "b", "c", "d", "e", "f", "a", "b"],
          (agent) => http.request("POST", "/workflows", { body: { topic: `busy ${agent}`, agent } })
        )
        const accepted = responses.filter((r) => r.status === 202)
        const refused = responses.filter((r) => r.status === 429)
        assert.strictEqual(accepted.length + refused.length, responses.length)
        assert.isAbove(refused.length, 0)
        for (const r of refused) {
          assert.deepStrictEqual([r.body._tag, r.body.reason], ["TooManyRequests", "backpressure"])
          assert.isAtLeast(Number(r.headers.get("retry-after")), 1)
        }
        // Every accepted task runs; the refused left nothing in the queue.
        for (const r of accepted) assert.strictEqual((yield* finished(http, r.body.id)).status, "completed")
        const snapshot = (yield* http.request("GET", "/supervisor")).body
        assert.strictEqual(snapshot.workers[0].completed, accepted.length)
        assert.strictEqual(snapshot.queueDepth.research, 0)
        assert.strictEqual((yield* http.request("GET", "/workflows")).body.items.length, accepted.length)
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})

describe("demo service: alert webhook", () => {
  it.live(
    "a delivery that keeps failing is retried with backoff, then becomes a dead letter",
    () =>
      Effect.gen(function*() {
        const hook = yield* webhookAnswering(500)
        const { base } = yield* start(
          config({ simFailureRate: 1, alertWebhook: Option.some(hook.url), alertBackoff: Duration.millis(5) }),
          Backends.sqlite()
        )
        const http = client(base)
        const id: string = (yield* http.request("POST", "/workflows", { body: { topic: "outage" } })).body.id
        const letter = yield* eventually(Effect.map(http.request("GET", "/dead-letters?resolved=false"), (r) =>
          r.body.letters.find((l: any) =>
            l.taskType === "alert-webhook"
          )))
        assert.strictEqual(letter.attempts, 5)
        assert.strictEqual(letter.error.tag, "WebhookFailed")
        assert.include(letter.payload.alert.message, id)
        // Five attempts of the workflow's alert; the webhook's own letter is not sent to it again.
        assert.strictEqual(hook.received.length, 5)
        assert.isTrue(hook.received.every((body: any) =>
          body.alert.kind === "DeadLetter"
        ))
      }).pipe(Effect.scoped, quiet),
    { timeout: 30_000 }
  )
})
