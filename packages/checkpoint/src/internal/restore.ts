// Restoring a workflow from its checkpoint: the checkpoint must belong to
// the definition, an older version is migrated, the state decodes with the
// workflow's schema; a completed workflow returns its final state, a
// cancelled one stays cancelled (unless retried).
import * as Failure from "@agentos/core/Failure"
import type { WorkflowId } from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Checkpoint } from "../Checkpoint.js"
import { CheckpointInvalid, VersionMismatch, WorkflowCancelled, WorkflowNotFound } from "../Errors.js"
import type { Workflow } from "../Workflow.js"

/** How a run was asked for. */
export type Mode = "execute" | "resume" | "retry"

/** What a run starts from: the workflow is completed already, or it runs from this checkpoint. */
export type Restored<S> =
  | { readonly _tag: "Completed"; readonly state: S }
  | { readonly _tag: "Run"; readonly checkpoint: Checkpoint; readonly state: S }

const stripFailure = (checkpoint: Checkpoint): Checkpoint => {
  const { failure: _failure, ...rest } = checkpoint
  return rest
}

/**
 * The checkpoint a run starts from: the stored one (migrated, decoded,
 * marked running for a new run), or a first one from the input when there
 * is none and the run is an `execute`. `now` and `epoch` stamp it.
 */
export const restore = <S, I, E, R>(
  workflow: Workflow<S, I, E, R>,
  workflowId: WorkflowId,
  existing: Option.Option<Checkpoint>,
  mode: Mode,
  encodedInput: Option.Option<unknown>,
  now: number,
  epoch: number
): Effect.Effect<Restored<S>, CheckpointInvalid | VersionMismatch | WorkflowCancelled | WorkflowNotFound> =>
  Effect.gen(function*() {
    const invalid = (message: string) => new CheckpointInvalid({ workflowId, workflow: workflow.name, message })
    const decodeState = (encoded: unknown) =>
      Schema.decodeUnknown(workflow.state)(encoded).pipe(
        Effect.mapError((error) =>
          invalid(`the checkpoint's state does not decode with the schema of "${workflow.name}": ${error.message}`)
        )
      )
    if (Option.isNone(existing)) {
      if (mode !== "execute" || Option.isNone(encodedInput)) return yield* new WorkflowNotFound({ workflowId })
      const state = yield* decodeState(encodedInput.value)
      const checkpoint: Checkpoint = {
        workflowId,
        name: workflow.name,
        version: workflow.version,
        status: "running",
        state: encodedInput.value as Json.JsonValue,
        completedSteps: [],
        attempts: {},
        run: 1,
        createdAt: now,
        updatedAt: now,
        epoch
      }
      return { _tag: "Run", checkpoint, state } as const
    }
    const found = existing.value
    if (found.name !== workflow.name) {
      return yield* invalid(`the checkpoint belongs to workflow "${found.name}", not "${workflow.name}"`)
    }
    let encoded: unknown = found.state
    if (found.version !== workflow.version) {
      const migration = workflow.migrations[found.version]
      if (migration === undefined) {
        return yield* new VersionMismatch({
          workflowId,
          workflow: workflow.name,
          checkpointVersion: found.version,
          workflowVersion: workflow.version
        })
      }
      encoded = yield* migration(found.state).pipe(
        Effect.mapError((error) =>
          invalid(
            `the migration from version ${found.version} to ${workflow.version} failed: ${
              Failure.fromUnknown(error).message
            }`
          )
        )
      )
      const notJson = Json.findInvalid(encoded)
      if (notJson !== undefined) return yield* invalid(`the migrated state is not JSON: ${notJson}`)
    }
    const state = yield* decodeState(encoded)
    if (found.status === "completed") return { _tag: "Completed", state } as const
    if (found.status === "cancelled" && mode !== "retry") {
      return yield* new WorkflowCancelled({ workflowId, workflow: workflow.name })
    }
    const checkpoint: Checkpoint = {
      ...stripFailure(found),
      version: workflow.version,
      state: encoded as Json.JsonValue,
      status: "running",
      run: found.run + 1,
      updatedAt: now
    }
    return { _tag: "Run", checkpoint, state } as const
  })
