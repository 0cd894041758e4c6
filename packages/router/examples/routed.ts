// The README's second example: @effect/ai's LanguageModel with the router
// underneath, over the simulated provider (offline). Each call is routed,
// reserved, run with the decision's output cap, and settled from the
// provider's reported usage.
import { RoutedLanguageModel, Router, SimulatedProvider, SpendLedger } from "@agentos/router"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const ledger = SpendLedger.layerMemory({
  budgets: [{ scope: "team:research", limit: 5_000_000, period: { unit: "month" } }] // $5 a month
})
const model = RoutedLanguageModel.layer({ scopes: ["team:research"] }).pipe(
  Layer.provide(SimulatedProvider.layer({ seed: 42 })), // offline; or a real provider's layer
  Layer.provideMerge(Router.layer()),
  Layer.provideMerge(ledger)
)

export const main = Effect.gen(function*() {
  const response = yield* LanguageModel.generateText({ prompt: "Summarise the incident for the on-call team" }).pipe(
    RoutedLanguageModel.withRequest({ complexity: "simple", outputTokens: 300 })
  )
  const ledger = yield* SpendLedger.SpendLedger
  return { text: response.text, usage: response.usage, team: yield* ledger.status("team:research") }
}).pipe(Effect.provide(model))
