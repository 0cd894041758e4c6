// The Effect Metrics of the token budget (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"

/** Tokens granted by `request` and `reserve`. */
export const grantedTokensTotal = Metric.counter("agentos_budget_granted_tokens_total", {
  description: "Tokens granted by request and reserve",
  incremental: true
})

/** Requests and reservations refused with BudgetExhausted, tagged by `scope`. */
export const exhaustedTotal = Metric.counter("agentos_budget_exhausted_total", {
  description: "Requests and reservations refused because a budget scope ran out",
  incremental: true
})

/** Tokens used beyond what could be charged (overage). */
export const overageTokensTotal = Metric.counter("agentos_budget_overage_tokens_total", {
  description: "Tokens used beyond what an agent's allocation could cover",
  incremental: true
})

/** Tokens moved between agents, tagged by `kind` (steal, reclaim). */
export const transferredTokensTotal = Metric.counter("agentos_budget_transferred_tokens_total", {
  description: "Allocation moved between agents by steals and reclaims",
  incremental: true
})

/** Reservations that expired before they were committed or released. */
export const expiredReservationsTotal = Metric.counter("agentos_budget_expired_reservations_total", {
  description: "Reservations that expired unsettled and returned their tokens",
  incremental: true
})
