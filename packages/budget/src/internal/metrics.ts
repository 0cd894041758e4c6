// The Effect Metrics of the token budget (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"

/**
 * A counter with constant tags fixed in its key: `Metric.tagged` merges its
 * tags into a new array on every update, which misses the metric's hook
 * cache and looks the key up in the registry again (≈1 µs an update).
 */
export const taggedCounter = (
  metric: Metric.Metric.Counter<number>,
  tags: ReadonlyArray<readonly [string, string]>
): Metric.Metric.Counter<number> => {
  const key = keys.get(metric)
  if (key === undefined) return Metric.taggedWithLabels(metric, tags.map(([k, v]) => MetricLabel.make(k, v)))
  return Metric.fromMetricKey(MetricKey.taggedWithLabels(key, tags.map(([k, v]) => MetricLabel.make(k, v))))
}

const keys = new Map<Metric.Metric.Counter<number>, MetricKey.MetricKey.Counter<number>>()

const counter = (name: string, description: string): Metric.Metric.Counter<number> => {
  const key = MetricKey.counter(name, { description, incremental: true })
  const metric = Metric.fromMetricKey(key)
  keys.set(metric, key)
  return metric
}

/** Tokens granted by `request` and `reserve`. */
export const grantedTokensTotal = counter(
  "agentos_budget_granted_tokens_total",
  "Tokens granted by request and reserve"
)

/** Requests and reservations refused with BudgetExhausted, tagged by `scope`. */
export const exhaustedTotal = counter(
  "agentos_budget_exhausted_total",
  "Requests and reservations refused because a budget scope ran out"
)

/** Tokens used beyond what could be charged (overage). */
export const overageTokensTotal = counter(
  "agentos_budget_overage_tokens_total",
  "Tokens used beyond what an agent's allocation could cover"
)

/** Tokens moved between agents, tagged by `kind` (steal, reclaim). */
export const transferredTokensTotal = counter(
  "agentos_budget_transferred_tokens_total",
  "Allocation moved between agents by steals and reclaims"
)

/** Reservations that expired before they were committed or released. */
export const expiredReservationsTotal = counter(
  "agentos_budget_expired_reservations_total",
  "Reservations that expired unsettled and returned their tokens"
)
