// The Effect Metrics of shared state (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"

/** Committed writes (sets and deletes), tagged by `backend`. */
export const writesTotal = Metric.counter("agentos_state_writes_total", {
  description: "Committed writes and deletes of shared state",
  incremental: true
})

/** Writes whose expected version was not the current one (any strategy), tagged by `backend`. */
export const conflictsTotal = Metric.counter("agentos_state_conflicts_total", {
  description: "Writes whose expected version was not the current one",
  incremental: true
})
