/**
 * The router's rules over the ledger: resolving a request (tokens,
 * complexity), routing, and the reserve → call → settle life of a call.
 */
import type * as Complexity from "@agentos/core/Complexity"
import type * as Money from "@agentos/core/Money"
import * as Pricing from "@agentos/core/Pricing"
import * as TokenCounter from "@agentos/core/TokenCounter"
import type * as TokenUsage from "@agentos/core/TokenUsage"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as ComplexityEstimator from "../ComplexityEstimator.js"
import * as DefaultCatalog from "../DefaultCatalog.js"
import { InvalidInput, InvalidOptions, type NoEligibleModel, type StoreError } from "../Errors.js"
import type * as Model from "../Model.js"
import * as Route from "../Route.js"
import type * as Router from "../Router.js"
import type * as SpendLedger from "../SpendLedger.js"
import * as routing from "./routing.js"

const decodeRequest = Schema.decodeUnknownEither(Route.RouteRequest)
// A valid request is checked without building a decoded copy (the schema has
// no transformations); only an invalid one is decoded, for its message.
const isRequest = Schema.is(Route.RouteRequest)
const decodeStrategy = Schema.decodeUnknownEither(Route.Strategy)

const EXCLUSION_BITS: Readonly<Record<Router.Exclusion, number>> = {
  "cooling-down": routing.COOLING_DOWN,
  "rate-limited": routing.RATE_LIMITED,
  "failed-this-call": routing.FAILED_THIS_CALL,
  "no-provider": routing.NO_PROVIDER
}

export const make = (
  options: Router.Options,
  ledger: SpendLedger.SpendLedgerService,
  estimator: ComplexityEstimator.ComplexityEstimatorService
): Effect.Effect<Router.RouterService, InvalidOptions> =>
  Effect.gen(function*() {
    const catalog = options.catalog ?? DefaultCatalog.catalog
    const strategy = options.strategy ?? { _tag: "cheapest" }
    if (decodeStrategy(strategy)._tag === "Left") {
      return yield* new InvalidOptions({ message: "strategy must be cheapest, fastest or a preference list" })
    }
    const marginPercent = options.marginPercent ?? 10
    if (!Number.isSafeInteger(marginPercent) || marginPercent < 0 || marginPercent > 1000) {
      return yield* new InvalidOptions({ message: "marginPercent must be an integer from 0 to 1000" })
    }
    if (options.reference !== undefined && !catalog.models.some((m) => m.name === options.reference)) {
      return yield* new InvalidOptions({ message: `the reference model "${options.reference}" is not in the catalog` })
    }
    const counter = Option.getOrElse(
      yield* Effect.serviceOption(TokenCounter.TokenCounter),
      () => TokenCounter.approximate
    )
    const settings: routing.Settings = { strategy, reference: options.reference, marginPercent }
    const byName = new Map(catalog.models.map((m) => [m.name, m]))

    /** The request with its tokens and complexity known, or why it is not valid. */
    const resolve = (input: Route.RouteRequest): routing.Resolved | InvalidInput => {
      let request: Route.RouteRequest = input
      if (!isRequest(input)) {
        const decoded = decodeRequest(input)
        if (decoded._tag === "Left") return new InvalidInput({ message: decoded.left.message })
        request = decoded.right
      }
      if (request.inputTokens === undefined && request.prompt === undefined) {
        return new InvalidInput({ message: "a request needs inputTokens or a prompt" })
      }
      const inputTokens = request.inputTokens ?? counter.count(request.prompt!)
      const complexity: Complexity.Complexity = request.complexity ??
        estimator.estimate({
          prompt: request.prompt ?? "",
          requiresTools: request.requires?.includes("tools") ?? false
        })
      return {
        inputTokens,
        outputTokens: request.outputTokens,
        maxOutputTokens: routing.maxOutputTokensOf(request),
        complexity,
        request
      }
    }

    const decideWith = (
      resolved: routing.Resolved,
      remaining: number | undefined,
      exclude: ((model: Model.Model, tokens: number) => number) | undefined
    ): Effect.Effect<Route.RouteDecision, NoEligibleModel> => {
      const outcome = routing.decide(catalog.models, resolved, settings, remaining, exclude)
      return outcome._tag === "None"
        ? Effect.fail(routing.noEligibleModel(outcome.rejections))
        : Effect.succeed(outcome.decision)
    }

    // Written without Effect.gen: a generator costs more than the decision
    // itself on this path (measured about 5 µs per run).
    const route: Router.RouterService["route"] = (input, routeOptions) =>
      Effect.suspend((): Effect.Effect<Route.RouteDecision, NoEligibleModel | InvalidInput | StoreError> => {
        const resolved = resolve(input)
        if (resolved instanceof InvalidInput) return Effect.fail(resolved)
        const scopes = resolved.request.scopes
        const given = routeOptions?.exclude
        const exclude = given === undefined ? undefined : (model: Model.Model, tokens: number) => {
          const reasons = given(model, tokens)
          let bits = 0
          for (const reason of reasons) bits |= EXCLUSION_BITS[reason]
          return bits
        }
        return scopes === undefined || scopes.length === 0
          ? decideWith(resolved, undefined, exclude)
          : Effect.flatMap(ledger.remaining(scopes), (remaining) => decideWith(resolved, remaining, exclude))
      })

    const reserve = (decision: Route.RouteDecision, scopes: ReadonlyArray<string>) =>
      Effect.map(
        ledger.reserve({
          scopes,
          model: decision.model.name,
          amount: decision.reserveCost,
          inputTokens: routing.reservedInput(decision.inputTokens, marginPercent),
          maxOutputTokens: decision.maxOutputTokens
        }),
        (reservation): Router.Hold => ({ decision, reservation })
      )

    const usageOf = (hold: Router.Hold, outcome: Router.Outcome): TokenUsage.TokenUsage =>
      "usage" in outcome
        ? outcome.usage
        : {
          inputTokens: hold.decision.inputTokens,
          outputTokens: counter.count(outcome.outputText),
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: "estimated"
        }

    const settle = (hold: Router.Hold, outcome: Router.Outcome) =>
      Effect.suspend(() => {
        const usage = usageOf(hold, outcome)
        const charged = Pricing.cost(hold.decision.model.pricing, usage)
        const referenceModel = hold.decision.reference === undefined
          ? undefined
          : byName.get(hold.decision.reference.model)
        const reference: Money.Money = referenceModel === undefined
          ? charged
          : Pricing.cost(referenceModel.pricing, usage)
        return ledger.settle(hold.reservation.id, {
          charged,
          reference,
          estimated: usage.source === "estimated"
        })
      })

    const cancel = (hold: Router.Hold) => ledger.cancel(hold.reservation.id)

    const settleInterrupted = (hold: Router.Hold) =>
      ledger.settle(hold.reservation.id, { charged: hold.reservation.amount, estimated: true })

    const call: Router.RouterService["call"] = (request, run) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const decision = yield* restore(route(request))
          const hold = yield* reserve(decision, request.scopes)
          const exit = yield* Effect.exit(restore(run(decision)))
          if (Exit.isSuccess(exit)) {
            const settlement = yield* settle(hold, exit.value.outcome)
            return { value: exit.value.value, decision, settlement }
          }
          if (Cause.isInterruptedOnly(exit.cause)) {
            // The call may have spent what it reserved: settle at the reservation.
            yield* Effect.ignore(settleInterrupted(hold))
          } else {
            yield* Effect.ignore(cancel(hold))
          }
          return yield* Effect.failCause(exit.cause)
        })
      )

    const service: Router.RouterService = {
      catalog,
      route,
      reserve,
      settle,
      settleInterrupted,
      cancel,
      call,
      budgetReport: ledger.report,
      alerts: ledger.alerts
    }
    return service
  })
