// Two ledgers on one database, each with its own SqlClient (its own pool and
// sessions, as two processes have): 1,000 concurrent reservations, 500
// through each, against a budget that fits 100 — spend never passes it.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
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
})
