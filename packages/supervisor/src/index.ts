/**
 * @agentos/supervisor — a supervisor with backpressure: worker pools per
 * task type, priorities, per-group concurrency, admission policies and
 * worker health.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Supervisor from "./Supervisor.js"
/** @since 0.1.0 */
export * as Task from "./Task.js"
/** @since 0.1.0 */
export * as TaskQueue from "./TaskQueue.js"
