// Two ledgers on one database, each with its own SqlClient (its own pool and
// sessions, as two processes have): 1,000 concurrent reservations, 500
// through each, against a budget that fits 100 — spend never passes it; and
// each threshold alert fires once in total across the two. Then two real
// processes (test/processes/reserver.ts, started with tsx) on one Postgres
// schema, 500 reservations each, checked from the database.
import * as Money from "@agentos/core/Money"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as SpendLedger from "../src/SpendLedger.js"

const options: SpendLedger.Options = {
  budgets: [{ scope: "team:research", limit: 100 * 1_000, period: { unit: "month" } }],
  sweepInterval: 0
}

const build = (layer: Layer.Layer<SpendLedger.SpendLedger, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(SpendLedger.SpendLedger))

const race = (ledgers: ReadonlyArray<SpendLedger.SpendLedgerService>) =>
  Effect.gen(function*() {
    const results = yield* Effect.forEach(
      Array.from({ length: 1_000 }, (_, i) => ledgers[i % ledgers.length]!),
      (ledger) =>
        Effect.either(Effect.flatMap(
          ledger.reserve({
            scopes: ["team:research"],
            model: "m",
            amount: 1_000 as never,
            inputTokens: 1,
            maxOutputTokens: 1
          }),
          (r) => ledger.settle(r.id, { charged: 1_000 as never })
        )),
      { concurrency: "unbounded" }
    )
    const other = results.flatMap((r) =>
      Either.isLeft(r) && r.left._tag !== "SpendLimitExceeded" ? [String(r.left)] : []
    )
    assert.deepStrictEqual(other, [])
    assert.strictEqual(results.filter(Either.isRight).length, 100)
    for (const ledger of ledgers) {
      const status = yield* ledger.status("team:research")
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [100_000, 0, 100])
    }
  })

// Four scopes; the second ledger's limits are 20% higher (a raise rolled out
// to one process first), so its 80% is the first one's 96% and its 100% lies
// beyond the first one's limit. Each ledger's last settlement, on the scope
// "sentinel", records overage: its alerts end there.
const scopes = ["team:a", "team:b", "team:c", "team:d"]
const alertOptions = (limit: number): SpendLedger.Options => ({
  budgets: [
    ...scopes.map((scope) => ({ scope, limit, period: { unit: "month" as const } })),
    { scope: "sentinel", limit: 1_000, period: { unit: "month" as const } }
  ],
  sweepInterval: 0
})

const alertRace = (ledgers: readonly [SpendLedger.SpendLedgerService, SpendLedger.SpendLedgerService]) =>
  Effect.gen(function*() {
    const collectors = yield* Effect.forEach(ledgers, (ledger) =>
      Effect.flatMap(
        ledger.subscribe,
        (s) => Effect.fork(Stream.runCollect(Stream.takeUntil(s, (a) => a._tag === "OverageRecorded")))
      ))
    const results = yield* Effect.forEach(
      Array.from({ length: 1_000 }, (_, i) => i),
      (i) => {
        const ledger = ledgers[i % 2]!
        return Effect.either(Effect.flatMap(
          ledger.reserve({
            scopes: [scopes[Math.floor(i / 2) % scopes.length]!],
            model: "m",
            amount: Money.micros(1_000),
            inputTokens: 1,
            maxOutputTokens: 1
          }),
          (r) => ledger.settle(r.id, { charged: Money.micros(1_000) })
        ))
      },
      { concurrency: "unbounded" }
    )
    assert.deepStrictEqual(
      results.flatMap((r) => Either.isLeft(r) && r.left._tag !== "SpendLimitExceeded" ? [String(r.left)] : []),
      []
    )
    for (const ledger of ledgers) {
      const r = yield* ledger.reserve({
        scopes: ["sentinel"],
        model: "m",
        amount: Money.micros(0),
        inputTokens: 1,
        maxOutputTokens: 1
      })
      yield* ledger.settle(r.id, { charged: Money.micros(1) })
    }
    const fired = new Map<string, number>()
    for (const collector of collectors) {
      for (const alert of Chunk.toReadonlyArray(yield* Fiber.join(collector))) {
        if (alert._tag !== "ThresholdCrossed") continue
        const key = `${alert.scope} ${alert.percent}`
        fired.set(key, (fired.get(key) ?? 0) + 1)
      }
    }
    // Every scope ends at the second ledger's limit: both thresholds were
    // reached, and each fired once in total.
    for (const scope of scopes) {
      assert.strictEqual((yield* ledgers[1].status(scope)).spent, 30_000)
    }
    assert.deepStrictEqual(
      [...fired].sort(),
      scopes.flatMap((scope) => [[`${scope} 100`, 1], [`${scope} 80`, 1]] as Array<[string, number]>)
    )
  })

describe("two SqlClients on one database", () => {
  it.scoped("SQLite: two connections on one file", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-router")
      const filename = `${dir}/ledger.db`
      const a = yield* build(SpendLedger.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      const b = yield* build(SpendLedger.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      yield* race([a, b])
    }), 180_000)

  it.scopedLive.skipIf(Backends.skipPostgres())(
    "Postgres: two pools on one schema",
    () =>
      Effect.gen(function*() {
        const first = yield* Layer.build(Backends.postgres())
        const schema = Context.get(first, Backends.TestDatabase).schema!
        const a = yield* build(SpendLedger.layerSql(options).pipe(Layer.provide(Layer.succeedContext(first))))
        const b = yield* build(SpendLedger.layerSql(options).pipe(Layer.provide(Backends.postgres({ schema }))))
        yield* race([a, b])
      }),
    180_000
  )

  it.scoped("SQLite: each threshold alert fires once in total across two connections", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-router")
      const filename = `${dir}/ledger.db`
      const a = yield* build(
        SpendLedger.layerSql(alertOptions(25_000)).pipe(Layer.provide(Backends.sqlite({ filename })))
      )
      const b = yield* build(
        SpendLedger.layerSql(alertOptions(30_000)).pipe(Layer.provide(Backends.sqlite({ filename })))
      )
      yield* alertRace([a, b])
    }), 180_000)

  it.scopedLive.skipIf(Backends.skipPostgres())(
    "Postgres: each threshold alert fires once in total across two pools",
    () =>
      Effect.gen(function*() {
        const first = yield* Layer.build(Backends.postgres())
        const schema = Context.get(first, Backends.TestDatabase).schema!
        const a = yield* build(
          SpendLedger.layerSql(alertOptions(25_000)).pipe(Layer.provide(Layer.succeedContext(first)))
        )
        const b = yield* build(
          SpendLedger.layerSql(alertOptions(30_000)).pipe(Layer.provide(Backends.postgres({ schema })))
        )
        yield* alertRace([a, b])
      }),
    180_000
  )
})

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const reserverPath = Path.join(packageDir, "test", "processes", "reserver.ts")

interface Report {
  readonly granted: ReadonlyArray<{ readonly id: string; readonly charged: number }>
  readonly refused: number
  readonly other: ReadonlyArray<string>
}

/** Starts a reserver process; its report when it exits, or a failure. Killed when the scope closes. */
const reserver = (database: string, calls: number, limit: number) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, ["--import", "tsx", "--conditions=@agentos/source", reserverPath], {
          cwd: packageDir,
          env: { ...process.env, DATABASE: database, CALLS: String(calls), LIMIT: String(limit) },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    ),
    (child) =>
      Effect.async<Report, Error>((resume) => {
        let stdout = ""
        let stderr = ""
        child.stdout!.on("data", (chunk) => (stdout += String(chunk)))
        child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
        child.on("close", (code, signal) => {
          if (code === 0) resume(Effect.try(() => JSON.parse(stdout) as Report))
          else resume(Effect.fail(new Error(`reserver ${child.pid} exited ${code ?? signal}:\n${stderr}`)))
        })
      })
  )

describe.skipIf(Backends.skipPostgres())("two processes on one Postgres", () => {
  it.live(
    "500 reservations from each against a budget that fits 100: spend passes it only by recorded overage",
    () =>
      Effect.gen(function*() {
        const limit = 100 * 1_000
        const context = yield* Layer.build(Backends.postgres())
        const database = Context.get(context, Backends.TestDatabase)
        const url = new URL(database.url!)
        url.searchParams.set("options", `-c search_path=${database.schema!}`)
        // The tables first (the processes' migrations then find them done).
        yield* build(
          SpendLedger.layerSql({
            budgets: [{ scope: "team:research", limit, period: { unit: "month" } }],
            sweepInterval: 0
          }).pipe(Layer.provide(Layer.succeedContext(context)))
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        const scopeRow = Effect.map(
          sql<{ spent: unknown; reserved: unknown; overage: unknown; calls: unknown }>`
            SELECT spent, reserved, overage, calls FROM agentos_router_scopes WHERE scope = 'team:research'`,
          (rows) => rows.map((r) => [Number(r.spent), Number(r.reserved), Number(r.overage), Number(r.calls)] as const)
        )
        const children = yield* Effect.all([reserver(url.toString(), 500, limit), reserver(url.toString(), 500, limit)])
        // While they run, every sample of the scope's row stays within the
        // limit plus the overage recorded so far.
        const samples: Array<readonly [number, number, number, number]> = []
        const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.flatMap(scopeRow, (rows) =>
            Effect.sync(() => {
              for (const row of rows) samples.push(row)
            })),
          Effect.sleep("10 millis")
        )))
        const reports = yield* Effect.all(children, { concurrency: "unbounded" }).pipe(
          Effect.timeoutFail({ duration: "4 minutes", onTimeout: () => new Error("the reservers did not finish") })
        )
        yield* Fiber.interrupt(sampler)
        for (const report of reports) {
          assert.deepStrictEqual(report.other, [])
          assert.strictEqual(report.granted.length + report.refused, 500)
        }
        const granted = reports.flatMap((r) => r.granted)
        const charged = granted.reduce((sum, g) => sum + g.charged, 0)
        const overage = granted.reduce((sum, g) => sum + g.charged - 1_000, 0)
        // The holds (1,000 each) never passed the limit; and a reservation was
        // refused only when spend plus holds (which only grow: each hold
        // became a charge of at least its amount) left less than 1,000.
        assert.isAtMost(granted.length * 1_000, limit)
        assert.isAbove(charged, limit - 1_000)
        assert.isTrue(granted.length > 0 && reports.every((r) => r.refused > 0))
        assert.isTrue(samples.length > 0)
        for (const [spent, reserved, over] of samples) assert.isAtMost(spent + reserved, limit + over)
        assert.deepStrictEqual(yield* scopeRow, [[charged, 0, overage, granted.length]])
        // Exactly the granted reservations are recorded, each settled at its charge.
        const recorded = yield* sql<{ id: string; state: string; charged: unknown }>`
          SELECT id, state, charged FROM agentos_router_reservations ORDER BY id`
        assert.deepStrictEqual(
          recorded.map((r) => [r.id, r.state, Number(r.charged)]),
          granted.map((g) => [g.id, "settled", g.charged]).sort(([a], [b]) => (a! < b! ? -1 : 1))
        )
      }).pipe(Effect.scoped),
    300_000
  )
})
