/**
 * The admission port: the supervisor asks every provided policy when a task
 * is submitted, before the task is queued, so that a task a budget or a
 * quota cannot afford is refused at once instead of waiting in a queue.
 * `@agentos/budget` implements it (a budget reserves the task's estimated
 * tokens); your own rate limits or quotas can too.
 *
 * A policy's answer is a grant: a plain value with a serialisable `id`. The
 * grant may hold a resource (reserved tokens) for the task's whole life,
 * queued and running: it does not expire while its holder is alive. The
 * holder settles it exactly once, by id, through the policy that gave it:
 * `commit(id, usage)` with the task's actual usage, or `release(id)` when the
 * task ended without usage to record (it failed before calling a model, was
 * cancelled or refused). Because a grant is settled by its id, a process
 * other than the one that asked can settle it (a task taken from a shared
 * queue); a grant whose holder vanished without settling it is given back by
 * the policy's own rule (e.g. an expiry the holder's lease renews).
 *
 * Settling is idempotent on the policy's side: settling an id that is
 * already settled, or that the policy does not know, does nothing. The
 * supervisor still settles each grant once.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { AgentId, TaskId } from "./Ids.js"
import type { TokenUsage } from "./TokenUsage.js"

/**
 * What the supervisor knows about a task when it asks for admission.
 * `priority` is the task's: a lower number runs first.
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
 * A policy could not decide: what it decides with (its store, a service it
 * asks) is unavailable. Nothing was held. Unlike `AdmissionRejected`, the
 * task was not refused on its merits: ask again after `retryAfterMillis`
 * (an HTTP service answers 503, not 429). `reason` is written for the
 * submitter and carries no detail of the failure (a database's address, a
 * driver's message): the policy logs that.
 *
 * @since 0.2.0
 * @category errors
 */
export class AdmissionUnavailable extends Schema.TaggedError<AdmissionUnavailable>()("AdmissionUnavailable", {
  policy: Schema.String,
  reason: Schema.String,
  retryAfterMillis: Schema.optional(Schema.NonNegativeInt)
}) {
  override get message(): string {
    return `${this.policy} could not decide on the task: ${this.reason}`
  }
}

/**
 * Fails with `AdmissionUnavailable` for a failure `cause` of what the policy
 * decides with: the cause's message is logged (at warning level, naming the
 * policy), the reason given to the submitter is `reason` alone, and asking
 * again is suggested after `retryAfterMillis` (1 s by default).
 *
 * @since 0.2.0
 * @category constructors
 */
export const unavailable = (options: {
  readonly policy: string
  readonly reason: string
  readonly cause: { readonly message: string }
  readonly retryAfterMillis?: number
}): Effect.Effect<never, AdmissionUnavailable> =>
  Effect.zipRight(
    Effect.logWarning(`${options.policy}: ${options.cause.message}`),
    Effect.fail(
      new AdmissionUnavailable({
        policy: options.policy,
        reason: options.reason,
        retryAfterMillis: options.retryAfterMillis ?? 1_000
      })
    )
  )

/**
 * A policy could not settle a grant (e.g. its store failed, or the id is not
 * one it could have given). The task's own outcome is unaffected; the
 * supervisor reports this beside it.
 *
 * @since 0.1.0
 * @category errors
 */
export class AdmissionSettleError extends Schema.TaggedError<AdmissionSettleError>()("AdmissionSettleError", {
  policy: Schema.String,
  message: Schema.String
}) {}

/**
 * What a policy gives an admitted task: a plain, serialisable value. The
 * `id` is what `commit` and `release` take; a queue stores it with the task.
 *
 * @since 0.2.0
 * @category schemas
 */
export const AdmissionGrant = Schema.Struct({
  id: Schema.String
}).annotations({ identifier: "AdmissionGrant" })

/**
 * @since 0.1.0
 * @category models
 */
export type AdmissionGrant = typeof AdmissionGrant.Type

/**
 * @since 0.1.0
 * @category models
 */
export interface AdmissionPolicyService {
  /**
   * Admits the task and holds what it needs, rejects it, or fails with
   * `AdmissionUnavailable` when it cannot decide (nothing held either way).
   */
  readonly admit: (
    request: AdmissionRequest
  ) => Effect.Effect<AdmissionGrant, AdmissionRejected | AdmissionUnavailable>
  /** The grant's task ended with this actual usage. Idempotent. */
  readonly commit: (grantId: string, usage: TokenUsage) => Effect.Effect<void, AdmissionSettleError>
  /** The grant's task ended without usage to record: give back what was held. Idempotent. */
  readonly release: (grantId: string) => Effect.Effect<void, AdmissionSettleError>
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
 * A policy that admits everything and holds nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allowAll: AdmissionPolicyService = {
  admit: () => Effect.succeed({ id: "allowAll" }),
  commit: () => Effect.void,
  release: () => Effect.void
}

/**
 * Combines policies: each is asked in order; when one rejects, the grants
 * already given are released and the rejection is returned. The combined
 * grant's id is the JSON array of the parts' ids, so it settles by id in any
 * process that builds the same combination; settling it settles every part
 * (all are attempted; the first error is reported).
 *
 * @since 0.1.0
 * @category combinators
 */
export const all = (policies: ReadonlyArray<AdmissionPolicyService>): AdmissionPolicyService => {
  const parts = (grantId: string): Effect.Effect<ReadonlyArray<string>, AdmissionSettleError> => {
    const ids = parseIds(grantId)
    return ids !== undefined && ids.length === policies.length
      ? Effect.succeed(ids)
      : Effect.fail(
        new AdmissionSettleError({
          policy: "AdmissionPolicy.all",
          message: `"${grantId}" is not the id of a grant of these ${policies.length} policies`
        })
      )
  }
  return {
    admit: (request) =>
      Effect.gen(function*() {
        const ids: Array<string> = []
        for (const policy of policies) {
          const result = yield* Effect.either(policy.admit(request))
          if (result._tag === "Left") {
            yield* Effect.forEach(ids, (id, i) => Effect.ignore(policies[i]!.release(id)), { discard: true })
            return yield* result.left
          }
          ids.push(result.right.id)
        }
        return { id: JSON.stringify(ids) }
      }),
    commit: (grantId, usage) =>
      Effect.flatMap(parts(grantId), (ids) => settleAll(ids.map((id, i) => policies[i]!.commit(id, usage)))),
    release: (grantId) =>
      Effect.flatMap(parts(grantId), (ids) => settleAll(ids.map((id, i) => policies[i]!.release(id))))
  }
}

const parseIds = (text: string): ReadonlyArray<string> | undefined => Option.getOrUndefined(decodeIds(text))

const decodeIds = Schema.decodeUnknownOption(Schema.parseJson(Schema.Array(Schema.String)))

const settleAll = (effects: ReadonlyArray<Effect.Effect<void, AdmissionSettleError>>) =>
  Effect.flatMap(
    Effect.all(effects.map(Effect.either)),
    (results) => {
      const failed = results.find((result) => result._tag === "Left")
      return failed === undefined ? Effect.void : Effect.fail(failed.left)
    }
  )
