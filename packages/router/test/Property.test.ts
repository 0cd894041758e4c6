// Budget conservation, as a property over random sequences of reservations,
// settlements and cancellations on the memory ledger: what a scope has
// charged is the sum of the settlements, what it holds is the sum of the
// open reservations, and charged plus held passes the limit only by the
// overage that settlements reported.
import * as Money from "@agentos/core/Money"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as SpendLedger from "../src/SpendLedger.js"

const LIMIT = 10_000

const step = FastCheck.oneof(
  FastCheck.record({ op: FastCheck.constant("reserve" as const), amount: FastCheck.integer({ min: 0, max: 3_000 }) }),
  FastCheck.record({
    op: FastCheck.constant("settle" as const),
    pick: FastCheck.nat(),
    // Up to half as much again as reserved: some settlements record overage.
    factor: FastCheck.integer({ min: 0, max: 150 })
  }),
  FastCheck.record({ op: FastCheck.constant("cancel" as const), pick: FastCheck.nat() })
)

describe("SpendLedger conservation", () => {
  it.effect.prop(
    "charged = Σ settlements, held = Σ open reservations, charged + held ≤ limit + overage",
    [FastCheck.array(step, { maxLength: 60 })],
    ([steps]) =>
      Effect.gen(function*() {
        const ledger = yield* SpendLedger.SpendLedger
        const open: Array<{ id: string; amount: number }> = []
        let charged = 0
        let overage = 0
        for (const s of steps) {
          if (s.op === "reserve") {
            const r = yield* Effect.either(ledger.reserve({
              scopes: ["team"],
              model: "m",
              amount: Money.micros(s.amount),
              inputTokens: 1,
              maxOutputTokens: 1
            }))
            if (Either.isRight(r)) open.push({ id: r.right.id, amount: s.amount })
            else assert.strictEqual(r.left._tag, "SpendLimitExceeded")
          } else if (open.length > 0) {
            const [held] = open.splice(s.pick % open.length, 1)
            if (s.op === "cancel") {
              yield* ledger.cancel(held!.id)
            } else {
              const actual = Math.floor((held!.amount * s.factor) / 100)
              const settlement = yield* ledger.settle(held!.id, { charged: Money.micros(actual) })
              charged += actual
              overage += settlement.overage
              assert.strictEqual(settlement.refunded, Math.max(0, held!.amount - actual))
            }
          }
          const status = yield* ledger.status("team")
          assert.strictEqual(status.spent, charged)
          assert.strictEqual(status.reserved, open.reduce((sum, h) => sum + h.amount, 0))
          assert.strictEqual(status.overage, overage)
          assert.isAtMost(status.spent + status.reserved, LIMIT + overage)
        }
      }).pipe(Effect.provide(SpendLedger.layerMemory({
        budgets: [{ scope: "team", limit: LIMIT, period: { unit: "month" } }],
        sweepInterval: 0
      }))),
    { fastCheck: { numRuns: 100 } }
  )
})
