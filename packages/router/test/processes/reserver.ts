// A process of the two-process race (test/Processes.test.ts): opens the
// spend ledger on the Postgres schema at DATABASE (a URL whose search_path
// is the test's schema) and fires CALLS concurrent reservations of 1,000 µ$
// against the scope team:research (limit LIMIT), settling each granted one
// at 1,000 µ$, or 1,200 µ$ (200 of overage) when its index is a multiple of
// 10. Writes one JSON line to stdout: the granted reservations with what
// each was charged, how many were refused, and any other failure.
//
//   node --import tsx --conditions=@agentos/source test/processes/reserver.ts
//   env: DATABASE, CALLS, LIMIT
import * as Money from "@agentos/core/Money"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SpendLedger from "../../src/SpendLedger.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}

const calls = Number(env("CALLS"))
const limit = Number(env("LIMIT"))

const ledger = SpendLedger.layerSql({
  budgets: [{ scope: "team:research", limit, period: { unit: "month" } }],
  sweepInterval: 0
}).pipe(
  Layer.provide(PgClient.layer({ url: Redacted.make(env("DATABASE")), maxConnections: 8 })),
  Layer.provide(Reactivity.layer)
)

const program = Effect.gen(function*() {
  const l = yield* SpendLedger.SpendLedger
  const results = yield* Effect.forEach(
    Array.from({ length: calls }, (_, i) => i),
    (i) =>
      Effect.either(Effect.flatMap(
        l.reserve({
          scopes: ["team:research"],
          model: "m",
          amount: Money.micros(1_000),
          inputTokens: 1,
          maxOutputTokens: 1
        }),
        (r) => Effect.as(l.settle(r.id, { charged: Money.micros(i % 10 === 0 ? 1_200 : 1_000) }), r)
      )),
    { concurrency: "unbounded" }
  )
  const granted: Array<{ readonly id: string; readonly charged: number }> = []
  let refused = 0
  const other: Array<string> = []
  for (const [i, result] of results.entries()) {
    if (Either.isRight(result)) granted.push({ id: result.right.id, charged: i % 10 === 0 ? 1_200 : 1_000 })
    else if (result.left._tag === "SpendLimitExceeded") refused++
    else other.push(String(result.left))
  }
  process.stdout.write(`${JSON.stringify({ granted, refused, other })}\n`)
})

Effect.runPromise(Effect.provide(program, ledger)).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
