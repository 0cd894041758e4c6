import { TokenBudget } from "@agentos/budget"
import * as Effect from "effect/Effect"

export const program = Effect.gen(function*() {
  const budget = yield* TokenBudget.TokenBudget
  // Weights are shares of the budget: the lead gets three times the helper's.
  yield* budget.register({ id: "lead", weight: 3 })
  yield* budget.register({ id: "helper", weight: 1 })
  // Reserve before a model call, commit the actual usage after it.
  const reservation = yield* budget.reserve("lead", 2_000)
  const settlement = yield* budget.commit(reservation.id, 1_500)
  // Exactly what is left can be granted; one token more names the scope that ran out.
  yield* budget.request("helper", 25_000)
  const refused = yield* Effect.flip(budget.request("helper", 1))
  // A partial request takes what the agent has left.
  const grant = yield* budget.request("lead", 80_000, { partial: true })
  return { settlement, refused, grant, dashboard: yield* budget.dashboard() }
})

export const main = program.pipe(
  Effect.provide(TokenBudget.layerMemory({ total: 100_000, period: { unit: "day" } }))
)
