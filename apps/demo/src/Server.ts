// The HTTP server: the `HttpApi` of `Api.ts` with its handlers, the OpenAPI
// JSON (/openapi.json) and its Swagger UI (/docs), wrapped in one middleware
// that checks the bearer token, refuses oversized bodies, answers every error
// in the documented shape, and counts requests. On start the terminal says
// where to look; a one-line summary follows while the service runs.
import { TokenBudget } from "@agentos/budget"
import { DeadLetterQueue } from "@agentos/dlq"
import { Router } from "@agentos/router"
import * as Otlp from "@effect/opentelemetry/Otlp"
import {
  FetchHttpClient,
  HttpApiBuilder,
  HttpApiSwagger,
  type HttpApp,
  HttpIncomingMessage,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  Multipart
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import {
  Cause,
  Clock,
  Console,
  Duration,
  Effect,
  FiberRef,
  HashMap,
  HashSet,
  Inspectable,
  Layer,
  Logger,
  Metric,
  Option,
  Redacted,
  Schedule
} from "effect"
import { timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import { AppConfig, redactText } from "./Config.js"
import * as Dashboard from "./dashboard/Dashboard.js"
import * as History from "./History.js"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Models from "./Models.js"
import * as Stack from "./Stack.js"
import { Team } from "./Team.js"

const OPEN = new Set(["/healthz", "/readyz"])

const json = (status: number, body: Record<string, unknown>) => HttpServerResponse.unsafeJson(body, { status })

const tokenMatches = (header: string | undefined, token: Redacted.Redacted) => {
  if (header === undefined) return false
  const expected = Buffer.from(`Bearer ${Redacted.value(token)}`)
  const given = Buffer.from(header)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * Whether a request body of this content type is read as JSON: every body of
 * the contract is JSON, and a body sent without a content type is read as JSON.
 */
const isJson = (contentType: string | undefined) => {
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  return media === "" || media === "application/json"
}

/**
 * What the contract's encoder cannot answer, in the one documented shape: no
 * route, a body that cannot be read (malformed JSON, a broken multipart body,
 * too large), a defect.
 * Typed failures go on to the `HttpApi` encoder.
 */
const errorResponse = (maxBytes: number) => (cause: Cause.Cause<unknown>) =>
  Effect.gen(function*() {
    if (Cause.isInterruptedOnly(cause)) return yield* Effect.interrupt
    // The body is read inside the handler: a failed read can arrive as a failure or a defect.
    const error = Cause.squash(cause)
    if (error instanceof HttpServerError.RouteNotFound) {
      return json(404, { _tag: "NotFound", message: "no route for this method and path", kind: "route", id: "" })
    }
    if (error instanceof HttpServerError.RequestError) {
      const text = String((error.cause as { message?: string } | undefined)?.message ?? error.description ?? "")
      if (/max|limit|too large|exceed/i.test(text)) {
        return json(413, { _tag: "PayloadTooLarge", message: `the body is larger than ${maxBytes} bytes`, maxBytes })
      }
      return json(400, { _tag: "InvalidRequest", message: `the request body could not be read: ${error.reason}` })
    }
    if (error instanceof Multipart.MultipartError || (error as { _tag?: unknown } | null)?._tag === "InvalidBoundary") {
      const reason = (error as { reason?: string }).reason ?? "InvalidBoundary"
      if (reason === "BodyTooLarge" || reason === "FileTooLarge" || reason === "FieldTooLarge") {
        return json(413, { _tag: "PayloadTooLarge", message: `the body is larger than ${maxBytes} bytes`, maxBytes })
      }
      return json(400, { _tag: "InvalidRequest", message: `the multipart body could not be read: ${reason}` })
    }
    if (Option.isSome(Cause.failureOption(cause))) return yield* Effect.failCause(cause)
    yield* Effect.logError("request failed", cause)
    const message = typeof error === "object" && error !== null && "message" in error
      ? String((error as { message: unknown }).message)
      : "an unexpected failure"
    return json(500, { _tag: "InternalError", message })
  })

/** Auth, body limit and the error shape around every route of the contract. */
const apiMiddleware = (config: AppConfig) => (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const path = request.url.split("?")[0]!
    if (Option.isSome(config.apiToken) && !OPEN.has(path)) {
      if (!tokenMatches(request.headers["authorization"], config.apiToken.value)) {
        return json(401, {
          _tag: "Unauthorized",
          message: "this route needs Authorization: Bearer <AGENTOS_API_TOKEN>"
        })
      }
    }
    if (request.headers["content-length"] === undefined && request.headers["transfer-encoding"] !== undefined) {
      return json(411, {
        _tag: "LengthRequired",
        message: "send the body with a Content-Length (chunked bodies are not accepted)"
      })
    }
    const length = Number(request.headers["content-length"] ?? "0")
    if (Number.isFinite(length) && length > config.maxBodyBytes) {
      return json(413, {
        _tag: "PayloadTooLarge",
        message: `the body has ${length} bytes; at most ${config.maxBodyBytes} are accepted`,
        maxBytes: config.maxBodyBytes
      })
    }
    // Every body of the contract is JSON: a body of another type (a form, multipart, text, bytes) is refused
    // before it is read, rather than parsed by the platform as whatever its header claims.
    const contentType = request.headers["content-type"]
    if (length > 0 && !isJson(contentType)) {
      return json(400, {
        _tag: "InvalidRequest",
        message: `the request body must be application/json, got ${JSON.stringify(String(contentType).slice(0, 100))}`
      })
    }
    return yield* app.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(config.maxBodyBytes)),
      Effect.catchAllCause(errorResponse(config.maxBodyBytes))
    )
  }) as HttpApp.Default

/** Request metrics, from the response that was sent. */
const serverMiddleware = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(app)
    const finished = yield* Clock.currentTimeMillis
    const status = exit._tag === "Success" ? String(exit.value.status) : "500"
    yield* Metric.increment(
      Metric.tagged(Metric.tagged(Metrics.httpRequests, "method", request.method), "status", status)
    )
    yield* Metric.update(Metrics.httpDuration, (finished - started) / 1000)
    return yield* exit
  })

/**
 * Node's server listens as soon as it is built, but the app is attached only
 * once the handlers' layers are built after it: a request in between would
 * never be answered (a load balancer's health probe would hang). Until the
 * app is attached, and after it is detached at shutdown, every request gets
 * a 503 in the documented shape.
 */
export const createStartingServer = () => {
  const server = createServer()
  server.on("request", (_request, response) => {
    if (server.listenerCount("request") > 1) return
    response.writeHead(503, { "content-type": "application/json", "retry-after": "1" })
    response.end(JSON.stringify({ _tag: "Unavailable", message: "the service is starting or stopping" }))
  })
  return server
}

/** The HTTP server over the whole stack; `port: 0` takes a free port. */
export const serverLayer = (config: AppConfig) =>
  HttpApiBuilder.serve(serverMiddleware).pipe(
    Layer.provide(Dashboard.layer), // first: built last, so its middleware wraps the token check
    Layer.provide(HttpApiBuilder.middleware(apiMiddleware(config))),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(Http.layer),
    Layer.provide(History.layer({ scope: Stack.TEAM_SCOPE })),
    Layer.provideMerge(NodeHttpServer.layer(createStartingServer, { port: config.port, host: config.host }))
  )

/** The address the server listens on, as a base URL. */
export const baseUrl = (address: HttpServer.Address) =>
  address._tag === "TcpAddress"
    ? `http://${
      address.hostname === "0.0.0.0" || address.hostname === "::" ? "127.0.0.1" : address.hostname
    }:${address.port}`
    : `unix:${address.path}`

const money = (micros: number) => `$${(micros / 1_000_000).toFixed(4)}`

/** The one-line live summary. */
export const summary = Effect.gen(function*() {
  const team = yield* Team
  const dlq = yield* DeadLetterQueue.DeadLetterQueue
  const budget = yield* TokenBudget.TokenBudget
  const router = yield* Router.Router
  const counts = yield* team.counts
  const snapshot = yield* team.supervisor.snapshot
  const letters = yield* dlq.summary()
  const dashboard = yield* budget.dashboard()
  const report = yield* router.budgetReport()
  const queued = Object.values(snapshot.queueDepth).reduce((a, b) => a + b, 0)
  const spent = report.scopes.find((s) => s.scope === Stack.TEAM_SCOPE)?.spent ?? 0
  return `tasks: ${counts.accepted} accepted, ${snapshot.running} running, ${queued} queued, ${counts.completed} done, ` +
    `${counts.failed} failed, ${counts.refused} refused | dead letters: ${letters.unresolved} open | ` +
    `tokens: ${dashboard.used.toLocaleString("en-US")} of ${dashboard.total.toLocaleString("en-US")} | ` +
    `spend: ${money(spent)}`
})

/** What the terminal shows at start, then the live summary. */
const terminal = (config: AppConfig) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const base = baseUrl(server.address)
    yield* Console.log([
      "",
      "AgentOS reference service",
      `  dashboard ${base}/`,
      `  API       ${base}/workflows  ${base}/tasks  (every route: docs)`,
      `  docs      ${base}/docs`,
      `  OpenAPI   ${base}/openapi.json`,
      `  metrics   ${base}/metrics`,
      `  health    ${base}/healthz  ${base}/readyz`,
      `  storage   ${Stack.storage(config)}`,
      `  team      ${config.team ? `on: ${config.agents.join(", ")} (AGENTOS_TEAM=false turns it off)` : "off"}`,
      `  models    ${Models.describeProviders(config)}`,
      `  traces    ${Option.getOrElse(config.otlpEndpoint, () => "off (set OTEL_EXPORTER_OTLP_ENDPOINT)")}`,
      `  auth      ${
        Option.isSome(config.apiToken) ? "bearer token required (AGENTOS_API_TOKEN)" : "open (set AGENTOS_API_TOKEN)"
      }`,
      `Ctrl-C or SIGTERM (kill -TERM ${process.pid}) drains and stops.`,
      ""
    ].join("\n"))
    const tty = process.stdout.isTTY === true
    yield* summary.pipe(
      Effect.flatMap((line) =>
        Effect.sync(() => {
          if (tty) process.stdout.write(`\r\x1b[2K${line}`)
          else process.stdout.write(`${line}\n`)
        })
      ),
      Effect.catchAll((error) => Effect.logWarning(`summary: ${error._tag}`)),
      Effect.repeat(Schedule.spaced(config.summaryInterval)),
      Effect.delay(Duration.millis(500)),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Console.log(`${tty ? "\n" : ""}draining: admission stopped, in-flight work finishes or is checkpointed`)
    )
  }))

/**
 * Every logger of the service masks the configured secrets (the API token,
 * the providers' keys, the database password) and the dlq's default patterns
 * (`sk-…` keys, bearer tokens) in what it is given: the message, the
 * annotations and the cause. A provider's error that quotes the key it was
 * sent is logged without it. Built before the stack, so every fiber the
 * service forks logs through it, whichever logger (logfmt, JSON, pretty,
 * OTLP) is installed.
 */
export const redactLogs = (config: AppConfig): Layer.Layer<never> => {
  const redact = redactText(config)
  const redactCause = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> => {
    if (Cause.isEmpty(cause)) return cause
    const text = Cause.pretty(cause, { renderErrorCause: true })
    const clean = redact(text)
    return clean === text ? cause : Cause.die(Object.assign(new Error(clean), { stack: clean }))
  }
  const deep = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") return redact(value)
    if (value === null || typeof value !== "object" || depth > 8) return value
    if (Cause.isCause(value)) return redactCause(value)
    if (Array.isArray(value)) return value.map((inner) => deep(inner, depth + 1))
    const proto = Object.getPrototypeOf(value)
    if (proto === Object.prototype || proto === null) {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, deep(inner, depth + 1)]))
    }
    // Anything else (an Error, a class instance) is logged as its text when that text carries a secret.
    const text = `${value instanceof Error ? `${value.stack ?? value.message}\n` : ""}${
      Inspectable.toStringUnknown(value)
    }`
    const clean = redact(text)
    return clean === text ? value : clean
  }
  const masked = <M, O>(logger: Logger.Logger<M, O>): Logger.Logger<M, O> =>
    Logger.mapInputOptions(logger, (options) => ({
      ...options,
      message: deep(options.message, 0) as M,
      annotations: HashMap.map(options.annotations, (value) => deep(value, 0)),
      cause: redactCause(options.cause)
    }))
  return Layer.scopedDiscard(Effect.locallyScopedWith(FiberRef.currentLoggers, HashSet.map(masked)))
}

/** The service over a given `SqlClient` layer (tests pass a throw-away database). */
export const layerWith = <E>(config: AppConfig, sql: Layer.Layer<SqlClient.SqlClient, E>, options: {
  readonly terminal?: boolean
} = {}) => {
  const stack = Stack.layer(config, sql)
  const server = serverLayer(config)
  const withTerminal = options.terminal === false ? server : Layer.provideMerge(terminal(config), server)
  return withTerminal.pipe(Layer.provideMerge(stack), Layer.provide(redactLogs(config)))
}

/** Structured logs: logfmt (default) or JSON lines, or pretty for a person; at the configured level. */
export const logger = (config: AppConfig) =>
  Layer.merge(
    config.logFormat === "json" ? Logger.json : config.logFormat === "pretty" ? Logger.pretty : Logger.logFmt,
    Logger.minimumLogLevel(config.logLevel)
  )

/**
 * OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, every span (the HTTP
 * request, the supervisor task, the workflow and its steps, each model
 * call: one trace per request) is exported over OTLP/HTTP JSON, with the
 * logs and metrics, through @effect/opentelemetry.
 */
export const tracing = (config: AppConfig): Layer.Layer<never> =>
  Option.match(config.otlpEndpoint, {
    onNone: () => Layer.empty,
    onSome: (baseUrl) =>
      Otlp.layerJson({ baseUrl, resource: { serviceName: "agentos-demo" } }).pipe(Layer.provide(FetchHttpClient.layer))
  })

/** The service as configured by the environment (`pnpm demo`). */
export const layer = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    layerWith(config, Stack.sql(config)).pipe(
      Layer.provide(tracing(config)),
      Layer.provide(logger(config))
    ))
)
