// The engine's Effect Metrics (a leaf: anyone may import it for values).
import * as Metric from "effect/Metric"

/** Steps completed and saved. */
export const stepsCompleted = Metric.counter("agentos_checkpoint_steps_completed_total", {
  description: "workflow steps completed and saved",
  incremental: true
})

/** Step attempts that failed and were retried. */
export const stepRetries = Metric.counter("agentos_checkpoint_step_retries_total", {
  description: "step attempts that failed and were retried",
  incremental: true
})

/** Workflows that completed. */
export const workflowsCompleted = Metric.counter("agentos_checkpoint_workflows_completed_total", {
  description: "workflows that completed",
  incremental: true
})

/** Workflows that failed (a step failed for good). */
export const workflowsFailed = Metric.counter("agentos_checkpoint_workflows_failed_total", {
  description: "workflows that failed (a step failed for good)",
  incremental: true
})
