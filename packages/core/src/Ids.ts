/**
 * Branded identifiers shared by every AgentOS package.
 *
 * Each id is a non-empty string of at most 256 characters without leading or
 * trailing white space, a NUL character or a lone surrogate, branded so that a `TaskId` can never be passed where
 * an `AgentId` is expected.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { textIssue } from "./Json.js"

const IdString = Schema.NonEmptyTrimmedString.pipe(
  Schema.maxLength(256),
  // Postgres cannot store a NUL character or a lone surrogate: refused on every backend.
  Schema.filter((id) => {
    const issue = textIssue(id)
    return issue === undefined ? undefined : `an id cannot hold ${issue}`
  })
)

/**
 * The id of an agent (a worker identity that spends budget and owns memory).
 *
 * @since 0.1.0
 */
export const AgentId = IdString.pipe(Schema.brand("@agentos/AgentId")).annotations({ identifier: "AgentId" })
/** @since 0.1.0 */
export type AgentId = typeof AgentId.Type

/**
 * The id of one task submitted to a supervisor.
 *
 * @since 0.1.0
 */
export const TaskId = IdString.pipe(Schema.brand("@agentos/TaskId")).annotations({ identifier: "TaskId" })
/** @since 0.1.0 */
export type TaskId = typeof TaskId.Type

/**
 * The id of one workflow run (a checkpointed execution).
 *
 * @since 0.1.0
 */
export const WorkflowId = IdString.pipe(Schema.brand("@agentos/WorkflowId")).annotations({ identifier: "WorkflowId" })
/** @since 0.1.0 */
export type WorkflowId = typeof WorkflowId.Type

/**
 * The id of one dead letter.
 *
 * @since 0.1.0
 */
export const LetterId = IdString.pipe(Schema.brand("@agentos/LetterId")).annotations({ identifier: "LetterId" })
/** @since 0.1.0 */
export type LetterId = typeof LetterId.Type

/**
 * The id of a memory entry.
 *
 * @since 0.1.0
 */
export const MemoryId = IdString.pipe(Schema.brand("@agentos/MemoryId")).annotations({ identifier: "MemoryId" })
/** @since 0.1.0 */
export type MemoryId = typeof MemoryId.Type
