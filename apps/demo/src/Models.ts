// Model calls of the agent team, through @agentos/router's routed
// `LanguageModel` (@effect/ai): each call is routed (the cheapest model that
// meets the step's complexity, within the agent's and the team's spend),
// reserved before and settled after with the usage the provider reported.
// The provider is the router's simulated one (deterministic for its seed,
// with a configurable latency and failure rate), so the service runs offline.
//
// One layer retries: the routed model makes one attempt (no fallbacks); a
// failed call fails its workflow step, which the checkpoint engine retries.
import { TokenUsage } from "@agentos/core"
import type { Complexity } from "@agentos/core"
import { RoutedLanguageModel, SimulatedProvider } from "@agentos/router"
import type { DecisionLog, Errors as RouterErrors, Router } from "@agentos/router"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { Context, Data, Duration, Effect, Layer, Option } from "effect"

export const TEAM = "research"
export const TEAM_SCOPE = `team:${TEAM}`
export const agentScope = (agent: string) => `agent:${agent}`

/** The provider failed this call (a 5xx, a 429, a timeout); a retry may succeed. */
export class ModelUnavailable extends Data.TaggedError("ModelUnavailable")<{
  readonly message: string
}> {}

/** The router refused the call: no model fits, or the spend budget is spent. Retrying at once will not help. */
export class ModelRefused extends Data.TaggedError("ModelRefused")<{
  readonly reason: string
  readonly message: string
}> {}

/** Tokens the current supervisor task spent, reported to its budget grant once it ends. */
export class TaskUsage extends Context.Tag("@agentos/demo/TaskUsage")<TaskUsage, {
  readonly report: (usage: TokenUsage.TokenUsage) => Effect.Effect<void>
}>() {}

export interface Completion {
  readonly text: string
  readonly usage: TokenUsage.TokenUsage
}

/**
 * One model call of a step: routed with the step's complexity and expected
 * output, charged to the agent's and the team's spend scopes; its usage is
 * reported to the task's budget grant.
 */
export const complete = (input: {
  readonly agent: string
  readonly step: string
  readonly prompt: string
  readonly complexity: Complexity.Complexity
  readonly outputTokens: number
}): Effect.Effect<Completion, ModelUnavailable | ModelRefused, LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const response = yield* LanguageModel.generateText({ prompt: input.prompt }).pipe(
      RoutedLanguageModel.withRequest({
        complexity: input.complexity,
        outputTokens: input.outputTokens,
        scopes: [agentScope(input.agent), TEAM_SCOPE]
      }),
      Effect.mapError((error) =>
        Option.match(RoutedLanguageModel.routerError(error), {
          onNone: () => new ModelUnavailable({ message: error.message }),
          onSome: (refusal) => new ModelRefused({ reason: refusal._tag, message: refusal.message })
        })
      )
    )
    const usage = TokenUsage.make({
      inputTokens: response.usage.inputTokens ?? 0,
      outputTokens: response.usage.outputTokens ?? 0
    })
    const reporter = yield* Effect.serviceOption(TaskUsage)
    if (Option.isSome(reporter)) yield* reporter.value.report(usage)
    yield* Effect.annotateCurrentSpan({ inputTokens: usage.inputTokens, outputTokens: usage.outputTokens })
    return { text: response.text, usage }
  }).pipe(
    Effect.withSpan("Models.complete", {
      attributes: { agent: input.agent, step: input.step, complexity: input.complexity }
    })
  )

/** The simulated provider's behaviour: its latency and failure rate. */
export const simulated = (options: { readonly latency: Duration.Duration; readonly failureRate: number }) => ({
  seed: 7,
  defaults: {
    timeToFirstTokenMillis: Duration.toMillis(options.latency),
    outputTokens: { min: 100, max: 600 },
    failures: { serverError: options.failureRate }
  }
})

/**
 * `LanguageModel` (and the router's `DecisionLog`): routed, over the
 * simulated provider. Swap `SimulatedProvider.layer` for a real provider's
 * `ModelProviders` layer to call real models.
 */
export const layer = (options: {
  readonly latency: Duration.Duration
  readonly failureRate: number
}): Layer.Layer<LanguageModel.LanguageModel | DecisionLog.DecisionLog, RouterErrors.InvalidOptions, Router.Router> =>
  RoutedLanguageModel.layer({ scopes: [TEAM_SCOPE], maxAttempts: 1 }).pipe(
    Layer.provide(SimulatedProvider.layer(simulated(options)))
  )
