/**
 * OpenAI as a `ModelProvider`, through `@effect/ai-openai` (its language
 * model speaks the Responses API). The routed call's output cap is sent as
 * `max_output_tokens`.
 *
 * Needs an `OpenAiClient` (`OpenAiClient.layer({ apiKey })` over an
 * `HttpClient`); `@effect/ai-openai` is an optional peer dependency of this
 * package: install it to use this module.
 *
 * @since 0.2.0
 */
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as OpenAiLanguageModel from "@effect/ai-openai/OpenAiLanguageModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { capped, configOverride } from "./internal/capped.js"
import * as ModelProvider from "./ModelProvider.js"

/**
 * - `serves`: the catalog providers it runs (default `["openai"]`);
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
  readonly config?: Omit<OpenAiLanguageModel.Config.Service, "model">
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ModelProvider.ModelProvider, never, OpenAiClient.OpenAiClient> =>
  Effect.map(OpenAiClient.OpenAiClient, (client) => {
    const serves = options.serves ?? ["openai"]
    return {
      name: options.name ?? "openai",
      serves: (model) => serves.includes(model.provider),
      languageModel: (model) =>
        OpenAiLanguageModel.make({
          model: options.modelIds?.[model.name] ?? model.name,
          ...(options.config === undefined ? {} : { config: options.config })
        }).pipe(
          Effect.provideService(OpenAiClient.OpenAiClient, client),
          Effect.map((service) =>
            capped(
              service,
              configOverride(
                OpenAiLanguageModel.Config,
                OpenAiLanguageModel.Config.getOrUndefined,
                (max) => ({ max_output_tokens: max })
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
): Layer.Layer<ModelProvider.ModelProviders, never, OpenAiClient.OpenAiClient> =>
  Layer.effect(ModelProvider.ModelProviders, Effect.map(make(options), (p) => [p]))
