// The queue's Effect Metrics (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"

/** New letters stored (a duplicate is not counted here). */
export const lettersAdded = Metric.counter("agentos_dlq_letters_added_total", {
  description: "new dead letters stored"
})

/** Adds that found the same failure already stored. */
export const lettersDuplicate = Metric.counter("agentos_dlq_letters_duplicate_total", {
  description: "adds that found the same failure already stored"
})

/** Replays finished, tagged by `outcome` (`succeeded`, `failed`). */
export const replays = Metric.counter("agentos_dlq_replays_total", {
  description: "replays finished, by outcome"
})

export const replaysSucceeded = Metric.tagged(replays, "outcome", "succeeded")
export const replaysFailed = Metric.tagged(replays, "outcome", "failed")

/** Alerts not delivered because the alert buffer was full (the letters are stored). */
export const alertsDropped = Metric.counter("agentos_dlq_alerts_dropped_total", {
  description: "alerts not delivered because the alert buffer was full"
})
