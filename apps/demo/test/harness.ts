// Starts the service in-process on a random port over a given SqlClient
// layer, and speaks HTTP to it with fetch.
import { SharedState } from "@agentos/state"
import { Backends } from "@agentos/testkit"
import { HttpApi, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import type { Schema, Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Api from "../src/Api.js"
import * as Config from "../src/Config.js"
import type { AppConfig } from "../src/Config.js"
import * as Server from "../src/Server.js"
import { Team } from "../src/Team.js"

/** The repository's root, where `pnpm demo` runs. */
export const root = Path.resolve(import.meta.dirname, "../../..")

/** A port on 127.0.0.1 that was free a moment ago (bound, then closed): nothing listens there. */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.die(error)))
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/**
 * One database that several instances of the service open, in turn or at
 * once: a SQLite file in a temporary directory, or one Postgres schema. Each
 * call of the function returned is a new connection to it.
 */
export const sharedDatabase = (
  backend: "sqlite" | "postgres"
): Effect.Effect<() => Layer.Layer<SqlClient.SqlClient, unknown>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    if (backend === "sqlite") {
      const dir = yield* tempDir
      return () => SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
    }
    const admin = yield* Layer.build(Backends.postgres())
    const schema = Context.get(admin, Backends.TestDatabase).schema!
    return () => Backends.postgres({ schema })
  })

/** The backends a test of several instances runs on: SQLite, and Postgres unless skipped. */
export const sharedBackends: ReadonlyArray<"sqlite" | "postgres"> = Backends.skipPostgres()
  ? ["sqlite"]
  : ["sqlite", "postgres"]

export const config = (overrides: Partial<AppConfig> = {}): AppConfig => ({
  ...Config.defaults(),
  port: 0,
  dataDir: Path.join(Os.tmpdir(), "agentos-demo-unused"),
  maxBodyBytes: 4_096,
  team: false,
  teamInterval: Duration.seconds(1),
  agents: ["lead", "analyst"],
  drainTimeout: Duration.millis(200),
  leaseTtl: Duration.seconds(1),
  taskLease: Duration.seconds(3),
  taskPollInterval: Duration.millis(50),
  tokenBudget: 10_000_000,
  spendLimitMicros: 10_000_000,
  simLatency: Duration.zero,
  simFailureRate: 0,
  summaryInterval: Duration.hours(1),
  ...overrides
})

export const withToken = (token: string) => ({ apiToken: Option.some(Redacted.make(token)) })

export interface Client {
  readonly base: string
  readonly request: (
    method: string,
    path: string,
    options?: {
      readonly body?: unknown
      readonly raw?: string
      readonly headers?: Record<string, string>
      /** Send the body as a stream: chunked, without Content-Length. */
      readonly chunked?: boolean
    }
  ) => Effect.Effect<{ readonly status: number; readonly headers: Headers; readonly body: any; readonly text: string }>
}

export const client = (base: string, token?: string): Client => ({
  base,
  request: (method, path, options = {}) =>
    Effect.promise(async () => {
      const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}) }
      let body: string | undefined
      if (options.raw !== undefined) {
        body = options.raw
        headers["content-type"] = "application/json"
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body)
        headers["content-type"] = "application/json"
      }
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { ...headers, ...options.headers },
        ...(body === undefined
          ? {}
          : options.chunked
          ? { body: new Blob([body]).stream(), duplex: "half" }
          : { body })
      })
      const text = await response.text()
      let parsed: unknown = undefined
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
      return { status: response.status, headers: response.headers, body: parsed as any, text }
    })
})

/** Builds the whole service in the current scope; returns its base URL. */
export const start = <E>(
  appConfig: AppConfig,
  sql: Layer.Layer<SqlClient.SqlClient, E>
): Effect.Effect<
  {
    readonly base: string
    readonly state: SharedState.SharedStateService
    readonly team: Context.Tag.Service<typeof Team>
  },
  unknown,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Server.layerWith(appConfig, sql, { terminal: false }))
    return {
      base: Server.baseUrl(Context.get(context, HttpServer.HttpServer).address),
      state: Context.get(context, SharedState.SharedState),
      team: Context.get(context, Team)
    }
  })

/** Polls `check` until it returns a value (at most `timeout`). */
export const eventually = <A>(
  check: Effect.Effect<A | undefined>,
  timeout: Duration.DurationInput = "20 seconds"
): Effect.Effect<A> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(timeout)
    while (true) {
      const value = yield* check
      if (value !== undefined) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage("condition not met in time")
      yield* Effect.sleep("50 millis")
    }
  })

/** Every row of every table of the service's database, as sorted JSON lines per table: what a request changed. */
export const tableRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql.onDialectOrElse({
    pg: () =>
      sql<{ readonly name: string }>`SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    orElse: () =>
      sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
  })
  const out: Record<string, Array<string>> = {}
  for (const { name } of tables) {
    const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(name)}`
    out[name] = rows.map((row) => JSON.stringify(row, (_, v) => typeof v === "bigint" ? String(v) : v)).sort()
  }
  return out
}).pipe(Effect.orDie)

/** The tables whose rows differ between two `tableRows`. */
export const changedTables = (before: Record<string, Array<string>>, after: Record<string, Array<string>>) =>
  Object.keys({ ...before, ...after }).filter((table) =>
    JSON.stringify(before[table] ?? []) !== JSON.stringify(after[table] ?? [])
  )

/** One endpoint of the service's contract, with the schemas a request to it is decoded by. */
export interface Route {
  readonly method: string
  readonly path: string
  readonly pathSchema: Option.Option<Schema.Schema<any, any>>
  readonly urlParamsSchema: Option.Option<Schema.Schema<any, any>>
  readonly payloadSchema: Option.Option<Schema.Schema<any, any>>
  readonly headersSchema: Option.Option<Schema.Schema<any, any>>
}

/** Every endpoint of `Api.Api`, read from the contract itself. */
export const routes: ReadonlyArray<Route> = (() => {
  const out: Array<Route> = []
  HttpApi.reflect(Api.Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      out.push({
        method: endpoint.method,
        path: endpoint.path,
        pathSchema: endpoint.pathSchema as unknown as Option.Option<Schema.Schema<any, any>>,
        urlParamsSchema: endpoint.urlParamsSchema as unknown as Option.Option<Schema.Schema<any, any>>,
        payloadSchema: endpoint.payloadSchema as unknown as Option.Option<Schema.Schema<any, any>>,
        headersSchema: endpoint.headersSchema as unknown as Option.Option<Schema.Schema<any, any>>
      })
    }
  })
  return out
})()
