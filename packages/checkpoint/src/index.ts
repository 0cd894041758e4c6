/**
 * @agentos/checkpoint — durable checkpointed workflows: resume after a crash,
 * exclusive execution, retries, timeouts; memory, file, SQLite and Postgres.
 *
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as Checkpoint from "./Checkpoint.js"
/** @since 0.1.0 */
export * as CheckpointStore from "./CheckpointStore.js"
/** @since 0.2.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Workflow from "./Workflow.js"
/** @since 0.2.0 */
export * as WorkflowEngine from "./WorkflowEngine.js"
/**
 * @since 0.1.0
 * @deprecated use `WorkflowEngine`
 */
export * as Workflows from "./Workflows.js"
