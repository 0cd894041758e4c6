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
import { DefaultCatalog, ModelProvider, RoutedLanguageModel, SimulatedProvider } from "@agentos/router"
import type { DecisionLog, Errors as RouterErrors, Router } from "@agentos/router"
import * as AnthropicProvider from "@agentos/router/AnthropicProvider"
import * as ChatCompletionsProvider from "@agentos/router/ChatCompletionsProvider"
import * as OpenAiProvider from "@agentos/router/OpenAiProvider"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { FetchHttpClient } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer, Option, Stream } from "effect"
import * as Witness from "./chaos/Witness.js"
import { type AppConfig, redactText, secretValues } from "./Config.js"

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

/** The catalog's providers: an OpenAI-compatible server is sent the models of all of them. */
const CATALOG_PROVIDERS = [...new Set(DefaultCatalog.catalog.models.map((model) => model.provider))]

/**
 * Where model calls go: OpenAI with OPENAI_API_KEY, Anthropic with
 * ANTHROPIC_API_KEY, an OpenAI-compatible chat-completions server (vLLM,
 * Ollama, OpenRouter, LM Studio) with OPENAI_BASE_URL — each serving the
 * catalog models of its provider (the compatible server every model, as
 * AGENTOS_OPENAI_COMPATIBLE_MODEL when set) — else the simulated provider.
 */
export const providers = (
  config: AppConfig
): Layer.Layer<ModelProvider.ModelProviders, RouterErrors.InvalidOptions> => {
  const http = FetchHttpClient.layer
  const real: Array<Layer.Layer<ModelProvider.ModelProviders>> = []
  if (Option.isSome(config.openAiBaseUrl)) {
    const model = Option.getOrUndefined(config.openAiModel)
    real.push(
      ChatCompletionsProvider.layer({
        name: "openai-compatible",
        serves: CATALOG_PROVIDERS,
        ...(model === undefined
          ? {}
          : { modelIds: Object.fromEntries(DefaultCatalog.catalog.models.map((m) => [m.name, model])) })
      }).pipe(
        Layer.provide(OpenAiClient.layer({
          apiUrl: config.openAiBaseUrl.value,
          ...(Option.isSome(config.openAiKey) ? { apiKey: config.openAiKey.value } : {})
        })),
        Layer.provide(http)
      )
    )
  } else if (Option.isSome(config.openAiKey)) {
    real.push(
      Layer.effect(ModelProvider.ModelProviders, Effect.map(OpenAiProvider.make(), (p) => [p])).pipe(
        Layer.provide(OpenAiClient.layer({ apiKey: config.openAiKey.value })),
        Layer.provide(http)
      )
    )
  }
  if (Option.isSome(config.anthropicKey)) {
    real.push(
      Layer.effect(ModelProvider.ModelProviders, Effect.map(AnthropicProvider.make(), (p) => [p])).pipe(
        Layer.provide(AnthropicClient.layer({ apiKey: config.anthropicKey.value })),
        Layer.provide(http)
      )
    )
  }
  return real.length === 0
    // The chaos run's witness of billed tokens (nothing unless AGENTOS_WITNESS_DIR is set).
    ? Witness.providers(
      SimulatedProvider.layer(simulated({ latency: config.simLatency, failureRate: config.simFailureRate }))
    )
    : masked(config, ModelProvider.combine(...real))
}

// A copy of a provider's error whose text fields (its description, a
// response body…) have the configured secrets masked, keeping its class and
// tag: its `message` is built from them. Nested objects are copied the same
// way, a few levels deep; anything else is kept as it is.
const maskError = (mask: (text: string) => string) => {
  const copy = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") return mask(value)
    if (typeof value !== "object" || value === null || depth > 4) return value
    if (Array.isArray(value)) return value.map((item) => copy(item, depth + 1))
    const result = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>
    for (const key of Object.keys(value)) result[key] = copy((value as Record<string, unknown>)[key], depth + 1)
    return result
  }
  return <E>(error: E): E => copy(error, 0) as E
}

// Real providers' errors pass through the masking before anything stores
// them: a provider (or a proxy) that quotes the key it was sent in its error
// would otherwise put it into the router's decision log, the workflow's
// failure and the task's error. The simulated provider has no secret.
const masked = <E, R>(
  config: AppConfig,
  providers: Layer.Layer<ModelProvider.ModelProviders, E, R>
): Layer.Layer<ModelProvider.ModelProviders, E, R> => {
  if (secretValues(config).length === 0) return providers
  const mask = maskError(redactText(config))
  return Layer.effect(
    ModelProvider.ModelProviders,
    Effect.map(ModelProvider.ModelProviders, (list) =>
      list.map((provider): ModelProvider.ModelProvider => ({
        ...provider,
        languageModel: (model) =>
          provider.languageModel(model).pipe(
            Effect.mapError(mask),
            Effect.map((service): LanguageModel.Service => ({
              ...service,
              generateText: (options) => Effect.mapError(service.generateText(options), mask),
              generateObject: (options) => Effect.mapError(service.generateObject(options), mask),
              streamText: (options) => Stream.mapError(service.streamText(options), mask)
            }))
          )
      })))
  ).pipe(Layer.provide(providers))
}

/** A description of the providers for the terminal. */
export const describeProviders = (config: AppConfig): string => {
  const names = [
    ...(Option.isSome(config.openAiBaseUrl) ? [`openai-compatible ${config.openAiBaseUrl.value}`] : []),
    ...(Option.isNone(config.openAiBaseUrl) && Option.isSome(config.openAiKey) ? ["openai"] : []),
    ...(Option.isSome(config.anthropicKey) ? ["anthropic"] : [])
  ]
  return names.length === 0 ? "simulated (set OPENAI_API_KEY, ANTHROPIC_API_KEY or OPENAI_BASE_URL)" : names.join(", ")
}

/**
 * `LanguageModel` (and the router's `DecisionLog`): routed, over the
 * configured providers.
 */
export const layer = (
  config: AppConfig
): Layer.Layer<LanguageModel.LanguageModel | DecisionLog.DecisionLog, RouterErrors.InvalidOptions, Router.Router> =>
  RoutedLanguageModel.layer({ scopes: [TEAM_SCOPE], maxAttempts: 1 }).pipe(Layer.provide(providers(config)))
