// Core's AdmissionPolicy over a token budget: a task's estimate is reserved
// for its agent when it is admitted (held until the task ends: no expiry) and
// settled by the reservation's id, from any process that opened the team.
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as Period from "@agentos/core/Period"
import * as TokenUsage from "@agentos/core/TokenUsage"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { InvalidOptions } from "../Errors.js"
import type * as TokenBudget from "../TokenBudget.js"

const POLICY = "TokenBudget"

/** The grant id of a task admitted without an agent: it holds nothing. */
export const NOTHING_HELD = "budget:none"

export const make = (
  budget: TokenBudget.TokenBudgetService,
  options: TokenBudget.AdmissionOptions
): Effect.Effect<AdmissionPolicy.AdmissionPolicyService, InvalidOptions> =>
  Effect.gen(function*() {
    const withoutAgent = options.withoutAgent ?? "refuse"
    if (withoutAgent !== "refuse" && withoutAgent !== "admit") {
      return yield* new InvalidOptions({ message: "withoutAgent must be \"refuse\" or \"admit\"" })
    }
    const withoutEstimate = options.withoutEstimate ?? "refuse"
    if (
      withoutEstimate !== "refuse" &&
      !(typeof withoutEstimate === "object" && withoutEstimate !== null &&
        Number.isSafeInteger(withoutEstimate.defaultEstimate) && withoutEstimate.defaultEstimate >= 0)
    ) {
      return yield* new InvalidOptions({
        message: "withoutEstimate must be \"refuse\" or { defaultEstimate } with a non-negative integer"
      })
    }
    const reject = (reason: string, scope?: string, retryAfterMillis?: number) =>
      new AdmissionPolicy.AdmissionRejected({
        policy: POLICY,
        reason,
        ...(scope === undefined ? {} : { scope }),
        ...(retryAfterMillis === undefined ? {} : { retryAfterMillis })
      })
    const retryAfter = budget.period === undefined
      ? Effect.succeed(undefined)
      : Effect.map(Clock.currentTimeMillis, (now) => Period.untilReset(Period.windowAt(budget.period!, now), now))
    const settleError = (error: { readonly message: string }) =>
      new AdmissionPolicy.AdmissionSettleError({ policy: POLICY, message: error.message })

    const admit: AdmissionPolicy.AdmissionPolicyService["admit"] = (request) =>
      Effect.gen(function*() {
        if (request.agentId === undefined) {
          if (withoutAgent === "admit") return { id: NOTHING_HELD }
          return yield* reject("the task names no agent whose budget could pay for it")
        }
        let estimate = request.estimatedTokens
        if (estimate === undefined) {
          if (withoutEstimate === "refuse") {
            return yield* reject("the task has no token estimate", `agent:${request.agentId}`)
          }
          estimate = withoutEstimate.defaultEstimate
        }
        const reservation = yield* budget.reserve(request.agentId, estimate, { timeout: "never" }).pipe(
          Effect.catchTags({
            BudgetExhausted: (error) =>
              Effect.flatMap(retryAfter, (after) =>
                Effect.fail(
                  reject(error.message, error.scope === "team" ? "team" : `agent:${error.agent}`, after)
                )),
            UnknownAgent: (error) => Effect.fail(reject(error.message, `agent:${error.agent}`)),
            InvalidInput: (error) => Effect.fail(reject(error.message)),
            // Not a refusal: the budget could not decide. The store's error (a database's address,
            // a driver's message) is logged, not handed to the submitter.
            StoreError: (error) =>
              AdmissionPolicy.unavailable({
                policy: POLICY,
                reason: "the token budget's store is unavailable",
                cause: error
              })
          })
        )
        return { id: reservation.id }
      })

    const commit: AdmissionPolicy.AdmissionPolicyService["commit"] = (grantId, usage) =>
      grantId === NOTHING_HELD ? Effect.void : budget.commit(grantId, TokenUsage.total(usage)).pipe(
        Effect.asVoid,
        Effect.catchTags({
          ReservationNotFound: () => Effect.void,
          InvalidInput: (error) => Effect.fail(settleError(error)),
          StoreError: (error) => Effect.fail(settleError(error))
        })
      )

    const release: AdmissionPolicy.AdmissionPolicyService["release"] = (grantId) =>
      grantId === NOTHING_HELD ? Effect.void : budget.release(grantId).pipe(
        Effect.asVoid,
        Effect.catchTags({
          ReservationNotFound: () => Effect.void,
          InvalidInput: (error) => Effect.fail(settleError(error)),
          StoreError: (error) => Effect.fail(settleError(error))
        })
      )

    return { admit, commit, release }
  })
