// Prometheus text exposition (format 0.0.4) of every Effect metric the
// process has recorded — the packages' and the service's — rendered from
// `Metric.snapshot` by metric kind, never per metric by hand.
import { Effect, Metric, MetricBoundaries, MetricState, Option } from "effect"
import type { MetricPair } from "effect"

const NAME = /[^a-zA-Z0-9_:]/g
const name = (raw: string) => {
  const cleaned = raw.replace(NAME, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}
const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const number = (value: number | bigint) =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value)
    ? "NaN"
    : value === Infinity
    ? "+Inf"
    : value === -Infinity
    ? "-Inf"
    : String(value)

const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${name(k)}="${escapeLabel(v)}"`).join(",")}}`

interface Family {
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string | undefined
  lines: Array<string>
}

/** Renders a metric snapshot as Prometheus text. */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  const family = (metric: string, type: Family["type"], help: string | undefined) => {
    let found = families.get(metric)
    if (found === undefined) {
      found = { type, help, lines: [] }
      families.set(metric, found)
    }
    return found
  }
  for (const pair of pairs) {
    const metric = name(pair.metricKey.name)
    const help = Option.getOrUndefined(pair.metricKey.description)
    const tags = pair.metricKey.tags.map((tag) => [tag.key, tag.value] as const)
    const state = pair.metricState
    if (MetricState.isCounterState(state)) {
      family(metric, "counter", help).lines.push(`${metric}${labels(tags)} ${number(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family(metric, "gauge", help).lines.push(`${metric}${labels(tags)} ${number(state.value)}`)
    } else if (MetricState.isFrequencyState(state)) {
      // A frequency counts occurrences of each value: a counter labelled by the value.
      const f = family(metric, "counter", help)
      for (const [key, count] of state.occurrences) {
        f.lines.push(`${metric}${labels([...tags, ["key", key]])} ${count}`)
      }
    } else if (MetricState.isHistogramState(state)) {
      const f = family(metric, "histogram", help)
      for (const [bound, cumulative] of state.buckets) {
        f.lines.push(`${metric}_bucket${labels([...tags, ["le", number(bound)]])} ${cumulative}`)
      }
      f.lines.push(`${metric}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
      f.lines.push(`${metric}_sum${labels(tags)} ${number(state.sum)}`)
      f.lines.push(`${metric}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isSummaryState(state)) {
      const f = family(metric, "summary", help)
      for (const [quantile, value] of state.quantiles) {
        if (value._tag === "Some") {
          f.lines.push(`${metric}${labels([...tags, ["quantile", String(quantile)]])} ${number(value.value)}`)
        }
      }
      f.lines.push(`${metric}_sum${labels(tags)} ${number(state.sum)}`)
      f.lines.push(`${metric}_count${labels(tags)} ${state.count}`)
    }
  }
  const out: Array<string> = []
  for (const [metric, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (f.help) out.push(`# HELP ${metric} ${escapeHelp(f.help)}`)
    out.push(`# TYPE ${metric} ${f.type}`)
    for (const line of f.lines) out.push(line)
  }
  return out.join("\n") + "\n"
}

/** The current snapshot of every metric, as Prometheus text. */
export const prometheus: Effect.Effect<string> = Effect.map(Metric.snapshot, render)

/** HTTP requests served, by method, route group and status. */
export const httpRequests = Metric.counter("agentos_demo_http_requests_total", {
  description: "HTTP requests answered, by method and status"
})

/** Time to answer an HTTP request. */
export const httpDuration = Metric.histogram(
  "agentos_demo_http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "Time to answer an HTTP request"
)
