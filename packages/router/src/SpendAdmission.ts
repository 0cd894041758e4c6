/**
 * Core's `AdmissionPolicy`, from the spend ledger: a task whose agent or
 * team spend scope has run out in its current period is refused when it is
 * submitted, with the scope and a retry-after (the period's reset), so
 * running out of money is backpressure, not a storm of failed calls.
 *
 * The policy holds nothing: each model call of an admitted task reserves
 * and settles its own money through the router. Its grants' `commit` and
 * `release` therefore record nothing (settling them is idempotent, as the
 * port asks), and the spend of the task is never counted twice.
 *
 * @since 0.1.0
 */
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SpendLedger from "./SpendLedger.js"

/**
 * Options of the policy.
 *
 * - `scopes`: the spend scopes of a task (default: `agent:<agentId>` when
 *   the task has an agent, and `teamOf(agentId)` when given); scopes
 *   without a budget are not checked;
 * - `minimumRemaining`: a scope with this many micro-dollars or fewer left
 *   counts as exhausted (default 0).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly scopes?: (request: AdmissionPolicy.AdmissionRequest) => ReadonlyArray<string>
  readonly teamOf?: (agentId: string) => string | undefined
  readonly minimumRemaining?: number
}

/**
 * The policy's name in `AdmissionRejected.policy`.
 *
 * @since 0.1.0
 * @category constants
 */
export const POLICY = "@agentos/router/SpendAdmission"

/**
 * Makes the policy over a ledger.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  ledger: SpendLedger.SpendLedgerService,
  options: Options = {}
): AdmissionPolicy.AdmissionPolicyService => {
  const budgeted = new Set(ledger.budgets.map((b) => b.scope))
  const minimum = options.minimumRemaining ?? 0
  const scopesOf = options.scopes ?? ((request: AdmissionPolicy.AdmissionRequest) => {
    if (request.agentId === undefined) return []
    const team = options.teamOf?.(request.agentId)
    return team === undefined ? [`agent:${request.agentId}`] : [`agent:${request.agentId}`, team]
  })
  return {
    admit: (request) =>
      Effect.gen(function*() {
        for (const scope of scopesOf(request)) {
          if (!budgeted.has(scope)) continue
          const status = yield* ledger.status(scope).pipe(
            Effect.catchTags({
              InvalidInput: (error) =>
                Effect.fail(new AdmissionPolicy.AdmissionRejected({ policy: POLICY, reason: error.message, scope })),
              // Not a refusal: the ledger could not answer. Its error (a database's address, a
              // driver's message) is logged, not handed to the submitter.
              StoreError: (error) =>
                AdmissionPolicy.unavailable({
                  policy: POLICY,
                  reason: "the spend ledger's store is unavailable",
                  cause: error
                })
            })
          )
          if (status.remaining <= minimum) {
            const now = yield* Clock.currentTimeMillis
            return yield* new AdmissionPolicy.AdmissionRejected({
              policy: POLICY,
              reason: `the spend scope has ${status.remaining} µ$ left of ${status.limit} µ$ in ${status.period}`,
              scope,
              retryAfterMillis: Math.max(0, status.resetsAt - now)
            })
          }
        }
        return { id: `${POLICY}:${request.taskId}` }
      }),
    commit: () => Effect.void,
    release: () => Effect.void
  }
}

/**
 * Provides core's `AdmissionPolicy` from the `SpendLedger`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<AdmissionPolicy.AdmissionPolicy, never, SpendLedger.SpendLedger> =>
  Layer.effect(AdmissionPolicy.AdmissionPolicy, Effect.map(SpendLedger.SpendLedger, (ledger) => make(ledger, options)))
