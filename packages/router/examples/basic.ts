// The README's example: route a request over the default catalog, run the
// call under a team budget (reserved before, settled after), and read the
// budget report.
import * as TokenUsage from "@agentos/core/TokenUsage"
import { Router, SpendLedger } from "@agentos/router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const ledger = SpendLedger.layerMemory({
  budgets: [{ scope: "team:research", limit: 5_000_000, period: { unit: "month" } }] // $5 a month
})

export const main = Effect.gen(function*() {
  const router = yield* Router.Router
  const { decision, settlement } = yield* router.call(
    { inputTokens: 2_000, outputTokens: 500, complexity: "simple", requires: ["tools"], scopes: ["team:research"] },
    // Call the chosen model here, with max_tokens = decision.maxOutputTokens.
    (decision) =>
      Effect.succeed({
        value: `answer from ${decision.model.name}`,
        outcome: { usage: TokenUsage.make({ inputTokens: 2_000, outputTokens: 180 }) }
      })
  )
  const report = yield* router.budgetReport()
  return { decision, settlement, team: report.scopes[0]! }
}).pipe(Effect.provide(Router.layer().pipe(Layer.provide(ledger))))
