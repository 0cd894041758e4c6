// Security of the reference service: the bearer token on every route the
// served OpenAPI document lists (mutating ones change nothing without it),
// locks that only their holder releases, SQL that no string input can inject
// into, and secrets (the API token, a provider's API key) that never reach
// the logs, the dead letters, the metrics or an error body.
import { Backends } from "@agentos/testkit"
import type { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import {
  Arbitrary,
  Cause,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted,
  Schema,
  Scope
} from "effect"
import type { SchemaAST as AST } from "effect"
import * as Http from "node:http"
import { changedTables, config, eventually, type Route, routes, start, tableRows, withToken } from "./harness.js"

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

// ---------------------------------------------------------------- helpers

interface Answer {
  readonly status: number
  readonly text: string
  readonly body: any
}

const attempt = async (
  base: string,
  method: string,
  path: string,
  options: { readonly body?: string; readonly headers?: Record<string, string> }
): Promise<Answer> => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(options.body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
    signal: AbortSignal.timeout(30_000)
  })
  const text = await response.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, text, body }
}

/**
 * Sends a request; one the client could not send on a connection the server
 * had just closed while idle (its keep-alive timeout) is sent again once.
 */
const send = (
  base: string,
  method: string,
  path: string,
  options: { readonly body?: string; readonly headers?: Record<string, string> } = {}
): Effect.Effect<Answer> =>
  Effect.promise(() => attempt(base, method, path, options).catch(() => attempt(base, method, path, options)))

/** Nothing queued or running: accepted work has finished writing. */
const idle = (base: string, token?: string) =>
  eventually(Effect.map(
    send(base, "GET", "/supervisor", token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
    (r) => r.body.running === 0 && Object.values(r.body.queueDepth).every((n) => n === 0) ? true : undefined
  ))

/** A service over a database this test can also read directly. */
const service = (backend: Backends.SqlBackend, overrides: Parameters<typeof config>[0]) =>
  Effect.gen(function*() {
    const database = yield* Layer.build(backend.layer)
    const started = yield* start(config(overrides), Layer.succeedContext(database))
    return {
      ...started,
      read: <A>(effect: Effect.Effect<A, never, SqlClient.SqlClient>) => Effect.provide(effect, database)
    }
  })

/** A seeded value of a schema, in its wire form. */
const sample = (schema: Schema.Schema<any, any>): any =>
  Schema.encodeSync(schema)(fc.sample(Arbitrary.make(schema), { seed: 7, numRuns: 1 })[0])

/** A body that decodes on the route (the research task's payload for `/tasks`). */
const validBody = (endpoint: Route | undefined): any => {
  if (endpoint === undefined || Option.isNone(endpoint.payloadSchema)) return undefined
  if (endpoint.path === "/tasks") return { type: "research", payload: { topic: "a", agent: "lead" } }
  if (endpoint.path === "/workflows") return { topic: "a", agent: "lead" }
  return sample(endpoint.payloadSchema.value)
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}")

// ---------------------------------------------------------------- authentication

const TOKEN = "tok_8f2c1b0e9d7a6c5b4a3f2e1d"

describe("demo security: the bearer token", () => {
  for (const backend of Backends.sqlBackends()) {
    it.live(
      `every route of the served OpenAPI document needs it; without it a mutating route changes nothing (${backend.name})`,
      () =>
        Effect.gen(function*() {
          const { base, read } = yield* service(backend, { ...withToken(TOKEN), agents: ["lead", "analyst"] })
          const auth = { authorization: `Bearer ${TOKEN}` }
          // Something to aim at: a workflow, a state key.
          const started = yield* send(base, "POST", "/workflows", {
            body: JSON.stringify({ topic: "x" }),
            headers: auth
          })
          assert.strictEqual(started.status, 202, started.text)
          const id: string = started.body.id
          assert.strictEqual(
            (yield* send(base, "PUT", "/state/notes%2Fa", { body: JSON.stringify({ value: { n: 1 } }), headers: auth }))
              .status,
            200
          )
          yield* idle(base, TOKEN)

          const document = yield* send(base, "GET", "/openapi.json", { headers: auth })
          assert.strictEqual(document.status, 200)
          const operations: Array<{ method: string; template: string }> = []
          for (const [template, item] of Object.entries(document.body.paths as Record<string, any>)) {
            for (const method of Object.keys(item)) {
              if (["get", "post", "put", "patch", "delete"].includes(method)) {
                operations.push({ method: method.toUpperCase(), template })
              }
            }
          }
          const mutating = operations.filter((o) => o.method !== "GET")
          // The document lists every route of the contract.
          assert.strictEqual(operations.length, routes.length)
          assert.isAtLeast(mutating.length, 10)

          // None, a wrong one, a near miss, the token outside the bearer scheme (in the header, in
          // Basic auth, in other headers, and, for all but the first, in the query string).
          const wrong = [
            {},
            { authorization: "Bearer not-the-token" },
            { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
            { authorization: TOKEN },
            { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}` },
            { "x-api-key": TOKEN, cookie: `token=${TOKEN}` }
          ]
          const before = yield* read(tableRows)
          let refused = 0
          for (const { method, template } of operations) {
            const endpoint = routes.find((e) => e.method === method && openApiPath(e.path) === template)
            const path = template.replace("{id}", id).replace("{key}", "notes%2Fa")
            const body = validBody(endpoint)
            // Every wrong credential on the mutating routes; none and a wrong one on the reads.
            for (const headers of method === "GET" ? wrong.slice(0, 2) : wrong) {
              const answer = yield* send(base, method, `${path}${headers === wrong[0] ? "" : `?token=${TOKEN}`}`, {
                ...(body === undefined ? {} : { body: JSON.stringify(body) }),
                headers: { ...headers, "if-match": "1" }
              })
              const open = template === "/healthz" || template === "/readyz"
              if (open) {
                assert.strictEqual(answer.status, 200, `${method} ${template}`)
                continue
              }
              assert.strictEqual(answer.status, 401, `${method} ${template} ${JSON.stringify(headers)}: ${answer.text}`)
              assert.deepStrictEqual(
                [answer.body._tag, typeof answer.body.message],
                ["Unauthorized", "string"],
                answer.text
              )
              refused++
            }
          }
          assert.isAtLeast(refused, mutating.length * wrong.length + (operations.length - mutating.length - 2) * 2)
          // Nothing changed anywhere.
          assert.deepStrictEqual(changedTables(before, yield* read(tableRows)), [])

          // The same requests with the token reach their handlers (so the 401s above were the token's).
          for (const { method, template } of mutating) {
            const endpoint = routes.find((e) => e.method === method && openApiPath(e.path) === template)
            const path = template.replace("{id}", id).replace("{key}", "notes%2Fa")
            const body = validBody(endpoint)
            const answer = yield* send(base, method, path, {
              ...(body === undefined ? {} : { body: JSON.stringify(body) }),
              headers: auth
            })
            assert.notStrictEqual(answer.status, 401, `${method} ${template}: ${answer.text}`)
            assert.isBelow(answer.status, 500, `${method} ${template}: ${answer.text}`)
          }
        }).pipe(Effect.scoped, quiet),
      { timeout: 180_000 }
    )
  }
})

// ---------------------------------------------------------------- locks

describe("demo security: locks of shared state", () => {
  // The HTTP API has no lock route: locks are taken by the service's own code (SharedState.withLock).
  // Checked here on the demo's own stack (its SharedState over SQL), and through the API's state writes.
  it("the contract exposes no lock route", () => {
    assert.deepStrictEqual(routes.filter((e) => /lock/i.test(e.path)), [])
  })

  for (const backend of Backends.sqlBackends()) {
    it.live(
      `only the holder writes or releases; a stale holder's release leaves the new holder's lock (${backend.name})`,
      () =>
        Effect.gen(function*() {
          const { base, read, state } = yield* service(backend, { agents: ["lead"] })
          const key = "shared/plan"
          yield* Effect.orDie(state.set(key, { step: 1 }, { agent: "setup" }))

          // A holds the lock.
          const scopeA = yield* Scope.make()
          const lockA = yield* Effect.orDie(
            Scope.extend(state.withLock(key, { agent: "A", ttl: "8 seconds" }), scopeA)
          )
          // B can neither take it nor write without the fence; nor can the API.
          const taken = yield* Effect.exit(Effect.scoped(state.withLock(key, { agent: "B", wait: 0 })))
          assert.strictEqual(failureOf(taken)?._tag, "LockTimeout")
          const written = yield* Effect.flip(state.set(key, { step: 2 }, { agent: "B" }))
          assert.strictEqual(written._tag, "KeyLocked")
          const before = yield* read(tableRows)
          const http = yield* send(base, "PUT", `/state/${encodeURIComponent(key)}`, {
            body: JSON.stringify({ value: { step: 3 }, agent: "B" })
          })
          // The resource's state refuses the write: a 409, like a version conflict.
          assert.strictEqual(http.status, 409, http.text)
          assert.strictEqual(http.body._tag, "InvalidState")
          assert.strictEqual(http.body.id, key)
          assert.include(http.body.message, "locked")
          assert.deepStrictEqual(changedTables(before, yield* read(tableRows)), [])

          // A's lease runs out (A is paused, say); B waits for it and takes the lock with a newer fence.
          const scopeB = yield* Scope.make()
          const lockB = yield* Effect.orDie(
            Scope.extend(state.withLock(key, { agent: "B", wait: "30 seconds" }), scopeB)
          )
          assert.isAbove(lockB.fence, lockA.fence)
          // A, stale, releases (its scope closes) and writes with its old fence: both refused.
          yield* Scope.close(scopeA, Exit.void)
          const stale = yield* Effect.flip(state.set(key, { step: 4 }, { agent: "A", fence: lockA.fence }))
          assert.strictEqual(stale._tag, "StaleFence")
          // B still holds it: C cannot take it, and B writes with its fence.
          const third = yield* Effect.exit(Effect.scoped(state.withLock(key, { agent: "C", wait: 0 })))
          assert.strictEqual(failureOf(third)?._tag, "LockTimeout")
          yield* Effect.orDie(state.set(key, { step: 5 }, { agent: "B", fence: lockB.fence }))
          const entry = Option.getOrThrow(yield* Effect.orDie(state.get(key)))
          assert.deepStrictEqual(entry.value, { step: 5 })
          // B's release frees it.
          yield* Scope.close(scopeB, Exit.void)
          const free = yield* Effect.orDie(Effect.scoped(state.withLock(key, { agent: "C", wait: 0 })))
          assert.isAbove(free.fence, lockB.fence)
        }).pipe(Effect.scoped, quiet),
      { timeout: 120_000 }
    )
  }
})

// ---------------------------------------------------------------- SQL injection

/** Whether a schema's wire form takes a string. */
const takesString = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return true
    case "Literal":
      return typeof ast.literal === "string"
    case "Refinement":
    case "Transformation":
      return takesString(ast.from)
    case "Union":
      return ast.types.some(takesString)
    default:
      return false
  }
}

const stringFields = (schema: Option.Option<Schema.Schema<any, any>>): Array<string> =>
  Option.match(schema, {
    onNone: () => [],
    onSome: (s) => {
      const ast = Schema.encodedSchema(s).ast
      return ast._tag === "TypeLiteral"
        ? ast.propertySignatures.filter((p) => takesString(p.type)).map((p) => String(p.name))
        : []
    }
  })

interface Injection {
  readonly label: string
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly headers: Record<string, string>
}

/** For every route and each string input it has, the request with `text` in that one place. */
const injections = (id: string, text: string): Array<Injection> => {
  const out: Array<Injection> = []
  for (const endpoint of routes) {
    const query = Option.match(endpoint.urlParamsSchema, {
      onNone: () => ({} as Record<string, string>),
      onSome: (s) =>
        Object.fromEntries(
          Object.entries(sample(s) as Record<string, unknown>).filter(([, v]) => v !== undefined).map((
            [k, v]
          ) => [k, String(v)])
        )
    })
    const base = { params: { id, key: "notes/a" } as Record<string, string>, query, payload: validBody(endpoint) }
    const make = (where: string, change: (r: typeof base) => void, headers: Record<string, string> = {}) => {
      const r = structuredClone(base)
      change(r)
      const path = endpoint.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(r.params[name] ?? "x"))
      const search = new URLSearchParams(r.query).toString()
      out.push({
        label: `${endpoint.method} ${endpoint.path} ${where}`,
        method: endpoint.method,
        path: search === "" ? path : `${path}?${search}`,
        ...(r.payload === undefined ? {} : { body: JSON.stringify(r.payload) }),
        headers
      })
    }
    for (const name of endpoint.path.match(/:(\w+)/g) ?? []) {
      make(`path ${name}`, (r) => (r.params[name.slice(1)] = text))
    }
    for (const name of stringFields(endpoint.urlParamsSchema)) make(`query ${name}`, (r) => (r.query[name] = text))
    for (const name of stringFields(endpoint.payloadSchema)) make(`body ${name}`, (r) => (r.payload[name] = text))
    if (Option.isSome(endpoint.headersSchema)) make("header if-match", () => {}, { "if-match": text })
    if (endpoint.path === "/tasks") {
      make("body payload.topic", (r) => (r.payload.payload.topic = text))
      make("body payload.agent", (r) => (r.payload.payload.agent = text))
    }
    if (endpoint.path === "/state/:key" && endpoint.method === "PUT") {
      make("body value (a key)", (r) => (r.payload.value = { [text]: 1 }))
      make("body value (a string)", (r) => (r.payload.value = { text }))
    }
  }
  return out
}

const MARKER = "canary-5e1f0c2b"

const INJECTIONS = [
  "' OR '1'='1",
  "\" OR \"\"=\"",
  "x'); DROP TABLE agentos_state_entries; --",
  "' UNION SELECT key, value, version, modified_by, updated_at FROM agentos_state_entries --",
  "'||(SELECT value FROM agentos_state_entries WHERE key='secret/canary')||'",
  "$1 ? \\'; --"
]

describe("demo security: SQL injection", () => {
  for (const backend of Backends.sqlBackends()) {
    it.live(
      `injection strings in every string input: tables intact, nothing leaked, never a 5xx (${backend.name})`,
      () =>
        Effect.gen(function*() {
          const { base, read } = yield* service(backend, { agents: ["lead", "analyst"] })
          // A secret row that no injected request may read back.
          assert.strictEqual(
            (yield* send(base, "PUT", "/state/secret%2Fcanary", { body: JSON.stringify({ value: { v: MARKER } }) }))
              .status,
            200
          )
          const seeded = yield* send(base, "POST", "/workflows", { body: JSON.stringify({ topic: "seed" }) })
          const id: string = seeded.body.id
          yield* idle(base)
          const before = yield* read(tableRows)

          const failures: Array<string> = []
          let sent = 0
          for (const text of INJECTIONS) {
            for (const request of injections(id, text)) {
              const answer = yield* send(base, request.method, request.path, {
                ...(request.body === undefined ? {} : { body: request.body }),
                headers: request.headers
              })
              sent++
              if (answer.status >= 500) failures.push(`${request.label} ${text}: ${answer.status} ${answer.text}`)
              if (answer.text.includes(MARKER)) failures.push(`${request.label} ${text}: leaked the canary`)
            }
          }
          assert.deepStrictEqual(failures, [])
          assert.isAbove(sent, 100)
          yield* idle(base)
          const after = yield* read(tableRows)
          // Every table is still there, and every row that was there is there unchanged
          // (accepted requests may add rows and move the team's own counters).
          assert.deepStrictEqual(Object.keys(after).sort(), Object.keys(before).sort())
          for (const table of ["agentos_state_entries", "agentos_checkpoint_workflows"]) {
            assert.isAtLeast(after[table]!.length, before[table]!.length, table)
          }
          const canary = yield* send(base, "GET", "/state/secret%2Fcanary")
          assert.deepStrictEqual([canary.body.value, canary.body.version], [{ v: MARKER }, 1])
          // An injected string is a key like any other: written as plain text, read back as such.
          const stored = yield* send(base, "GET", `/state/${encodeURIComponent(INJECTIONS[0]!)}`)
          assert.strictEqual(stored.status, 200, stored.text)
          assert.strictEqual(stored.body.key, INJECTIONS[0])
        }).pipe(Effect.scoped, quiet),
      { timeout: 240_000 }
    )
  }
})

// ---------------------------------------------------------------- secrets

/**
 * An OpenAI-compatible server that fails every call; with `echo`, its error
 * message quotes the key it was sent (as some providers and proxies do).
 */
const failingProvider = (echo: boolean) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly keys: Array<string>; readonly server: Http.Server }>((resume) => {
      const keys: Array<string> = []
      const server = Http.createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "")
          keys.push(key)
          res.statusCode = 500
          res.setHeader("content-type", "application/json")
          const message = echo ? `upstream failed for api key ${key}` : "upstream failed"
          res.end(JSON.stringify({ error: { message, type: "server_error" } }))
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`,
          keys,
          server
        })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

/**
 * Where each secret is looked for: what the logger got, what the process
 * printed, the dead letter, every response body (error bodies, metrics,
 * letters, alerts, decisions), and every row of the database.
 *
 * A provider whose error message quotes the API key: the logger and the dead
 * letter queue mask the configured secrets (Server.redactLogs, the dlq's
 * redaction hook from Config.redaction), and provider errors are masked where
 * they enter the service (Models.providers), before the router's decision
 * log, the workflow's failure or the task's error store them.
 */
const secretsCase = (echo: boolean) =>
  it.live(
    echo
      ? "a provider that quotes the API key: the key is masked in logs, dead letters, alerts and error bodies"
      : "the API token and the provider's key never appear in logs, dead letters, metrics, error bodies or tables",
    () =>
      Effect.gen(function*() {
        // Not shaped like an `sk-…` key: masked because it is the configured key, not by a pattern.
        const apiKey = "proxy-key-0123456789abcdefSECRETKEY"
        const provider = yield* failingProvider(echo)
        const logs: Array<string> = []
        const capture = Logger.make((options) => {
          logs.push(Logger.logfmtLogger.log(options))
        })
        // Everything the process prints meanwhile, too.
        const printed: Array<string> = []
        const writes = [process.stdout, process.stderr].map((stream) => {
          const original = stream.write.bind(stream)
          stream.write = ((chunk: any, ...rest: Array<any>) => {
            printed.push(String(chunk))
            return original(chunk, ...rest)
          }) as typeof stream.write
          return () => (stream.write = original as typeof stream.write)
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => writes.forEach((restore) => restore())))

        const run = Effect.gen(function*() {
          const { base, read } = yield* service(Backends.sqlBackends()[0]!, {
            ...withToken(TOKEN),
            openAiKey: Option.some(Redacted.make(apiKey)),
            openAiBaseUrl: Option.some(provider.url),
            alertBackoff: Duration.millis(5)
          })
          const auth = { authorization: `Bearer ${TOKEN}` }
          const answers: Array<Answer & { readonly request: string }> = []
          const call = (method: string, path: string, options: Parameters<typeof send>[3] = {}) =>
            Effect.tap(send(base, method, path, options), (a) =>
              Effect.sync(() =>
                answers.push({
                  ...a,
                  request: `${method} ${path.split("?")[0]!.replace(/\/[0-9A-Z]{26}(?=\/|$)/g, "/:id")}`
                })
              ))

          // A workflow whose every model call fails with the key in the provider's message: a dead letter.
          const id: string =
            (yield* call("POST", "/workflows", { body: JSON.stringify({ topic: "leak" }), headers: auth }))
              .body.id
          const letter = yield* eventually(
            Effect.map(
              call("GET", "/dead-letters?resolved=false", { headers: auth }),
              (r) => r.body.letters?.find((l: any) => l.workflow?.id === id)
            ),
            "30 seconds"
          )
          // The key did reach the provider (the test would prove nothing otherwise).
          assert.include(provider.keys, apiKey)
          // Error bodies: wrong tokens, bad input, unknown ids, a failed replay.
          yield* call("POST", "/workflows", { body: "{", headers: auth })
          yield* call("POST", "/workflows", {
            body: JSON.stringify({ topic: apiKey }),
            headers: { authorization: "x" }
          })
          yield* call("POST", `/dead-letters/${letter.id}/replay`, { headers: auth })
          yield* call("GET", `/dead-letters/${letter.id}`, { headers: auth })
          yield* call("GET", `/workflows/${id}`, { headers: auth })
          yield* call("GET", `/tasks/${id}`, { headers: auth })
          yield* call("GET", "/alerts", { headers: auth })
          yield* call("GET", "/router/decisions", { headers: auth })
          const metrics = yield* call("GET", "/metrics", { headers: auth })
          assert.strictEqual(metrics.status, 200)
          const rows = yield* read(tableRows)
          return { answers, letter, rows }
        }).pipe(Effect.scoped)

        const { answers, letter, rows } = yield* run.pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
        assert.isAbove(logs.length, 0)
        const places: Record<string, string> = {
          logs: logs.join("\n"),
          printed: printed.join(""),
          "dead letter": JSON.stringify(letter),
          ...Object.fromEntries(answers.map((a) => [`the response to ${a.request}`, a.text]))
        }
        const name = (secret: string) => secret === TOKEN ? "the API token" : "the API key"
        const leaks: Array<string> = []
        for (const [where, text] of Object.entries(places)) {
          for (const secret of [TOKEN, apiKey]) if (text.includes(secret)) leaks.push(`${name(secret)} in ${where}`)
        }
        // The database holds neither (a letter, a checkpoint's failure, a decision).
        for (const [table, lines] of Object.entries(rows)) {
          for (const secret of [TOKEN, apiKey]) {
            if (lines.join("\n").includes(secret)) leaks.push(`${name(secret)} in table ${table}`)
          }
        }
        assert.deepStrictEqual(leaks, [])
      }).pipe(Effect.scoped),
    { timeout: 60_000 }
  )

describe("demo security: secrets", () => {
  secretsCase(false)
  secretsCase(true)
})
