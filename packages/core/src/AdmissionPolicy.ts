/**
 * The admission port: the supervisor asks every provided policy before it
 * starts a task. `@agentos/budget` implements it (a budget reserves the
 * task's estimated tokens); your own rate limits or quotas can too.
 *
 * An admission may hold a resource for the task's lifetime: the supervisor
 * calls exactly one of `commit` (with the task's actual usage) or `release`
 * (the task ended without usage, failed or was interrupted) on every grant.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { AgentId, TaskId } from "./Ids.js"
import type { TokenUsage } from "./TokenUsage.js"

/**
 * What the supervisor knows about a task when it asks for admission.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AdmissionRequest = Schema.Struct({
  taskId: TaskId,
  taskType: Schema.String,
  agentId: Schema.optional(AgentId),
  estimatedTokens: Schema.optional(Schema.NonNegativeInt),
  priority: Schema.optional(Schema.Int)
}).annotations({ identifier: "AdmissionRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export type AdmissionRequest = typeof AdmissionRequest.Type

/**
 * A policy said no. `retryAfterMillis`, when present, is when asking again
 * may succeed; `scope` names what ran out (e.g. `agent:alice`, `team`).
 *
 * @since 0.1.0
 * @category errors
 */
export class AdmissionRejected extends Schema.TaggedError<AdmissionRejected>()("AdmissionRejected", {
  policy: Schema.String,
  reason: Schema.String,
  scope: Schema.optional(Schema.String),
  retryAfterMillis: Schema.optional(Schema.NonNegativeInt)
}) {
  override get message(): string {
    return `${this.policy} rejected the task${this.scope === undefined ? "" : ` (${this.scope})`}: ${this.reason}`
  }
}

/**
 * A policy could not settle a grant (e.g. its store failed). The task's own
 * outcome is unaffected; the supervisor reports this beside it.
 *
 * @since 0.1.0
 * @category errors
 */
export class AdmissionSettleError extends Schema.TaggedError<AdmissionSettleError>()("AdmissionSettleError", {
  policy: Schema.String,
  message: Schema.String
}) {}

/**
 * What a policy holds for an admitted task until it ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdmissionGrant {
  /** The task ended with this actual usage. */
  readonly commit: (usage: TokenUsage) => Effect.Effect<void, AdmissionSettleError>
  /** The task ended without usage to record; give back what was held. */
  readonly release: Effect.Effect<void, AdmissionSettleError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AdmissionPolicyService {
  readonly admit: (request: AdmissionRequest) => Effect.Effect<AdmissionGrant, AdmissionRejected>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AdmissionPolicy extends Context.Tag("@agentos/core/AdmissionPolicy")<
  AdmissionPolicy,
  AdmissionPolicyService
>() {}

/**
 * A grant that holds nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyGrant: AdmissionGrant = { commit: () => Effect.void, release: Effect.void }

/**
 * A policy that admits everything.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allowAll: AdmissionPolicyService = { admit: () => Effect.succeed(emptyGrant) }

/**
 * Combines policies: each is asked in order; when one rejects, the grants
 * already given are released and the rejection is returned. Settling a
 * combined grant settles every part (all are attempted; the first error is
 * reported).
 *
 * @since 0.1.0
 * @category combinators
 */
export const all = (policies: ReadonlyArray<AdmissionPolicyService>): AdmissionPolicyService => ({
  admit: (request) =>
    Effect.gen(function*() {
      const grants: Array<AdmissionGrant> = []
      for (const policy of policies) {
        const result = yield* Effect.either(policy.admit(request))
        if (result._tag === "Left") {
          yield* Effect.forEach(grants, (grant) => Effect.ignore(grant.release), { discard: true })
          return yield* result.left
        }
        grants.push(result.right)
      }
      return {
        commit: (usage) => settleAll(grants.map((grant) => grant.commit(usage))),
        release: settleAll(grants.map((grant) => grant.release))
      }
    })
})

const settleAll = (effects: ReadonlyArray<Effect.Effect<void, AdmissionSettleError>>) =>
  Effect.flatMap(
    Effect.all(effects.map(Effect.either)),
    (results) => {
      const failed = results.find((result) => result._tag === "Left")
      return failed === undefined ? Effect.void : Effect.fail(failed.left)
    }
  )
