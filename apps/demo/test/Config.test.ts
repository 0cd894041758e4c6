import { Backends } from "@agentos/testkit"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { AppConfig } from "../src/Config.js"
import * as Stack from "../src/Stack.js"
import { client, config, start } from "./harness.js"

const read = (env: Record<string, string>) =>
  Effect.withConfigProvider(AppConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("demo config", () => {
  it.effect("every setting has a default that runs offline", () =>
    Effect.gen(function*() {
      const c = yield* read({})
      assert.strictEqual(c.port, 3000)
      assert.strictEqual(c.dataDir, ".agentos-data")
      assert.isTrue(Option.isNone(c.databaseUrl))
      assert.isTrue(Option.isNone(c.apiToken))
      assert.strictEqual(c.maxBodyBytes, 65_536)
      assert.isTrue(c.team)
      assert.strictEqual(Duration.toMillis(c.teamInterval), 3_000)
      assert.deepStrictEqual(c.agents, ["lead", "analyst", "writer"])
      assert.strictEqual(Stack.storage(c), "sqlite .agentos-data/agentos.db")
    }))

  it.effect("the environment overrides them; bad values fail at start", () =>
    Effect.gen(function*() {
      const c = yield* read({
        PORT: "0",
        DATABASE_URL: "postgres://db/agentos",
        AGENTOS_API_TOKEN: "t",
        AGENTOS_TEAM: "false",
        AGENTOS_AGENTS: "a,b",
        AGENTOS_TEAM_INTERVAL: "250 millis"
      })
      assert.strictEqual(c.port, 0)
      assert.strictEqual(Redacted.value(Option.getOrThrow(c.databaseUrl)), "postgres://db/agentos")
      assert.strictEqual(Stack.storage(c), "postgres (DATABASE_URL)")
      assert.strictEqual(Redacted.value(Option.getOrThrow(c.apiToken)), "t")
      assert.isFalse(c.team)
      assert.deepStrictEqual(c.agents, ["a", "b"])
      for (
        const bad of [{ PORT: "70000" }, { AGENTOS_MAX_BODY_BYTES: "0" }, { AGENTOS_SIM_FAILURE_RATE: "2" }, {
          AGENTOS_AGENTS: "a b"
        }]
      ) {
        const error = yield* Effect.flip(read(bad))
        assert.include(String(error), Object.keys(bad)[0]!)
      }
      // An empty token is no token.
      assert.isTrue(Option.isNone((yield* read({ AGENTOS_API_TOKEN: "" })).apiToken))
    }))

  it.scoped("AGENTOS_SQLITE_SYNCHRONOUS sets SQLite's synchronous pragma; anything else fails at start", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-sync-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      // SQLite's own numbers: 1 is NORMAL, 2 is FULL.
      for (
        const [env, expected] of [[{}, 1], [{ AGENTOS_SQLITE_SYNCHRONOUS: "full" }, 2], [{
          AGENTOS_SQLITE_SYNCHRONOUS: "normal"
        }, 1]] as const
      ) {
        const c = { ...(yield* read(env)), dataDir: dir }
        const rows = yield* Effect.scoped(Effect.flatMap(
          Layer.build(Stack.sql(c)),
          (context) => Context.get(context, SqlClient.SqlClient)`PRAGMA synchronous`
        ))
        assert.deepStrictEqual(rows, [{ synchronous: expected }])
      }
      const error = yield* Effect.flip(read({ AGENTOS_SQLITE_SYNCHRONOUS: "off" }))
      assert.include(String(error), "AGENTOS_SQLITE_SYNCHRONOUS")
    }))

  it.live.skipIf(Backends.skipPostgres())(
    "DATABASE_URL puts every store on that Postgres",
    () =>
      Effect.gen(function*() {
        // A fresh schema (dropped afterwards); the service reaches it through DATABASE_URL alone.
        const admin = yield* Layer.build(Backends.postgres())
        const db = Context.get(admin, Backends.TestDatabase)
        const url = new URL(db.url!)
        url.searchParams.set("options", `-c search_path=${db.schema}`)
        const c = config({ databaseUrl: Option.some(Redacted.make(url.toString())) })
        const { base } = yield* start(c, Stack.sql(c))
        const http = client(base)
        const put = yield* http.request("PUT", "/state/k", { body: { value: { a: 1 } } })
        assert.strictEqual(put.status, 200, put.text)
        const sql = Context.get(admin, SqlClient.SqlClient)
        const rows = yield* Effect.orDie(
          sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${db
            .schema!}`
        )
        const tables = rows.map((row) => row.table_name)
        for (const pkg of ["checkpoint", "dlq", "state", "memory", "budget", "router"]) {
          assert.isTrue(tables.some((t: string) => t.startsWith(`agentos_${pkg}_`)), `${pkg}: ${tables.join(", ")}`)
        }
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: 30_000 }
  )
})
