// The package's Effect Metrics (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"

/** Memories stored by `add`, tagged by `outcome` (`added`, `merged`). */
export const adds = Metric.counter("agentos_memory_adds_total", {
  description: "memories stored by add, by outcome (added, merged)"
})
export const added = Metric.tagged(adds, "outcome", "added")
export const merged = Metric.tagged(adds, "outcome", "merged")

/** Memories superseded by a newer one of the same key. */
export const superseded = Metric.counter("agentos_memory_superseded_total", {
  description: "memories superseded by a newer memory of the same key"
})

/** Memories evicted to keep maxEntries. */
export const evicted = Metric.counter("agentos_memory_evicted_total", {
  description: "memories evicted to keep maxEntries"
})

/** Times a layer applied another process's writes to its index. */
export const syncs = Metric.counter("agentos_memory_syncs_total", {
  description: "times a layer applied another process's writes to its index"
})

/** Live memories in a layer's index (tagged by `team`). */
export const entries = Metric.gauge("agentos_memory_entries", {
  description: "live memories in a layer's index"
})
