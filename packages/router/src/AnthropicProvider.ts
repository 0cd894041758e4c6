/**
 * Anthropic as a `ModelProvider`, through `@effect/ai-anthropic` (the
 * Messages API). The routed call's output cap is sent as `max_tokens`.
 * Anthropic reports cache reads apart from input tokens: the provider says
 * so (`cachedInputSeparate`), and the routed model adds them.
 *
 * Needs an `AnthropicClient` (`AnthropicClient.layer({ apiKey })` over an
 * `HttpClient`); `@effect/ai-anthropic` is an optional peer dependency of this
 * package: install it to use this module.
 *
 * @since 0.2.0
 */
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as AnthropicLanguageModel from "@effect/ai-anthropic/AnthropicLanguageModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { capped, configOverride } from "./internal/capped.js"
import * as ModelProvider from "./ModelProvider.js"

/**
 * - `serves`: the catalog providers it runs (default `["anthropic"]`);
 * - `modelIds`: the API model id of a catalog model, where they differ;
 * - `config`: request settings sent with every call (temperature, …).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly name?: string
  readonly serves?: ReadonlyArray<string>
  readonly modelIds?: Readonly<Record<string, string>>
  readonly config?: Omit<AnthropicLanguageModel.Config.Service, "model">
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ModelProvider.ModelProvider, never, AnthropicClient.AnthropicClient> =>
  Effect.map(AnthropicClient.AnthropicClient, (client) => {
    const serves = options.serves ?? ["anthropic"]
    return {
      name: options.name ?? "anthropic",
      cachedInputSeparate: true,
      serves: (model) => serves.includes(model.provider),
      languageModel: (model) =>
        AnthropicLanguageModel.make({
          model: options.modelIds?.[model.name] ?? model.name,
          ...(options.config === undefined ? {} : { config: options.config })
        }).pipe(
          Effect.provideService(AnthropicClient.AnthropicClient, client),
          Effect.map((service) =>
            capped(
              service,
              configOverride(
                AnthropicLanguageModel.Config,
                AnthropicLanguageModel.Config.getOrUndefined,
                (max) => ({ max_tokens: max })
              )
            )
          )
        )
    }
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<ModelProvider.ModelProviders, never, AnthropicClient.AnthropicClient> =>
  Layer.effect(ModelProvider.ModelProviders, Effect.map(make(options), (p) => [p]))
