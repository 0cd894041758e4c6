// The supervisor's Effect metrics (a leaf). Updated with `unsafeUpdate` on
// the dispatch path, which runs outside of an Effect's steps.
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

export const queueDepth = Metric.gauge("agentos_supervisor_queue_depth", {
  description: "Tasks queued (not running), by task type"
})

export const load = Metric.gauge("agentos_supervisor_load", {
  description: "Share of the workers' slots in use (0-1)"
})

export const running = Metric.gauge("agentos_supervisor_running", {
  description: "Tasks running now"
})

export const taskDuration = Metric.histogram(
  "agentos_supervisor_task_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 18 }),
  "Duration of task attempts, by task type"
)

export const rejections = Metric.counter("agentos_supervisor_rejections_total", {
  description: "Submissions refused, by reason (backpressure, admission)",
  incremental: true
})

export const tasks = Metric.counter("agentos_supervisor_tasks_total", {
  description: "Tasks that ended, by outcome",
  incremental: true
})

export const deadLetterFailures = Metric.counter("agentos_supervisor_dead_letter_failures_total", {
  description: "Dead letters that could not be written (the failure stays on the task's handle)",
  incremental: true
})

export const grantSettleFailures = Metric.counter("agentos_supervisor_grant_settle_failures_total", {
  description: "Admission grants whose commit or release failed",
  incremental: true
})

export const circuitOpened = Metric.counter("agentos_supervisor_circuit_opened_total", {
  description: "Worker circuit breakers that opened",
  incremental: true
})

export const typeLabels = (taskType: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("task_type", taskType)
]

export const label = (key: string, value: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make(key, value)
]

// Label arrays made once: a metric caches its hook per label array (by
// identity), so a new array on every update would look the hook up again.
export const outcomeLabels = {
  completed: label("outcome", "completed"),
  failed: label("outcome", "failed"),
  cancelled: label("outcome", "cancelled"),
  "dead-lettered": label("outcome", "dead-lettered")
} as const
export const backpressureLabels = label("reason", "backpressure")
export const admissionLabels = label("reason", "admission")
export const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
