/**
 * The engine's former module name, kept as an alias of `WorkflowEngine`
 * (same Tag, same layers): `Workflows` and `Workflow` differed by one letter.
 *
 * @since 0.1.0
 * @deprecated use `WorkflowEngine` (`Workflows.Workflows` is `WorkflowEngine.WorkflowEngine`,
 * `Workflows.WorkflowsService` is `WorkflowEngine.WorkflowEngineService`)
 */
import * as WorkflowEngine from "./WorkflowEngine.js"

/**
 * @since 0.1.0
 * @deprecated use `WorkflowEngine`
 */
export * from "./WorkflowEngine.js"

/**
 * @since 0.1.0
 * @category tags
 * @deprecated use `WorkflowEngine.WorkflowEngine`
 */
export const Workflows = WorkflowEngine.WorkflowEngine

/**
 * @since 0.1.0
 * @category tags
 * @deprecated use `WorkflowEngine.WorkflowEngine`
 */
export type Workflows = WorkflowEngine.WorkflowEngine

/**
 * @since 0.1.0
 * @category models
 * @deprecated use `WorkflowEngine.WorkflowEngineService`
 */
export type WorkflowsService = WorkflowEngine.WorkflowEngineService
