/**
 * An OpenAI-compatible chat-completions provider (vLLM, Ollama, OpenRouter,
 * LM Studio) as a `ModelProvider`: a `LanguageModel` built with
 * `LanguageModel.make` on `@effect/ai-openai`'s client, since no ready-made
 * chat-completions model exists on the Effect-3 line. The routed call's
 * output cap is sent as `max_tokens`; streams ask for usage
 * (`stream_options.include_usage`); a server that sends none leaves the
 * call's usage to be counted (estimated).
 *
 * Text only: a prompt with files or tool results, or a call with tools, is
 * refused with `AiError.MalformedInput`. `generateObject` sends
 * `response_format: json_schema`.
 *
 * Needs an `OpenAiClient` pointed at the server
 * (`OpenAiClient.layer({ apiUrl: "http://127.0.0.1:8000/v1" })`);
 * `@effect/ai-openai` is an optional peer dependency of this package.
 *
 * @since 0.2.0
 */
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/chatCompletions.js"
import * as ModelProvider from "./ModelProvider.js"

/**
 * - `serves`: the catalog providers it runs (required: your catalog names
 *   the provider of its self-hosted models);
 * - `modelIds`: the server's model id of a catalog model, where they differ;
 * - `config`: fields sent with every request (`temperature`, …).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly name?: string
  readonly serves: ReadonlyArray<string>
  readonly modelIds?: Readonly<Record<string, string>>
  readonly config?: Readonly<Record<string, unknown>>
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ModelProvider.ModelProvider, never, OpenAiClient.OpenAiClient> =>
  Effect.map(OpenAiClient.OpenAiClient, (client) => ({
    name: options.name ?? "chat-completions",
    serves: (model) => options.serves.includes(model.provider),
    languageModel: (model) => internal.make(client, options.modelIds?.[model.name] ?? model.name, options.config ?? {})
  }))

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ModelProvider.ModelProviders, never, OpenAiClient.OpenAiClient> =>
  Layer.effect(ModelProvider.ModelProviders, Effect.map(make(options), (p) => [p]))
