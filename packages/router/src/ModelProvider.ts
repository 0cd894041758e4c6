/**
 * The seam between the routed `LanguageModel` and the providers that run
 * the calls: a `ModelProvider` gives an `@effect/ai` `LanguageModel` for a
 * catalog model it serves; `ModelProviders` holds the providers of an
 * application (a provider is a layer; `combine` puts several together).
 *
 * While a routed call runs, `CallContext` tells the provider what the
 * router decided for it: the output cap to send as `max_tokens` and the
 * reservation the call is charged to.
 *
 * @since 0.2.0
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Model from "./Model.js"

/**
 * A provider of language models.
 *
 * - `name`: for logs and the decision log;
 * - `serves`: whether it runs a catalog model (usually by its `provider`);
 * - `languageModel`: the model's `LanguageModel` service. The routed model
 *   asks once per model and keeps it; each call reads `CallContext`;
 * - `cachedInputSeparate`: its usage counts cache reads apart from the
 *   input tokens (Anthropic), so the routed model adds them to the input.
 *
 * @since 0.2.0
 * @category models
 */
export interface ModelProvider {
  readonly name: string
  readonly serves: (model: Model.Model) => boolean
  readonly languageModel: (model: Model.Model) => Effect.Effect<LanguageModel.Service, AiError.AiError>
  readonly cachedInputSeparate?: boolean
}

/**
 * The providers of an application, asked in order: the first that serves a
 * model runs it.
 *
 * @since 0.2.0
 * @category tags
 */
export class ModelProviders extends Context.Tag("@agentos/router/ModelProviders")<
  ModelProviders,
  ReadonlyArray<ModelProvider>
>() {}

/**
 * What the router decided for the call being run: the model, the output cap
 * (send it as `max_tokens`) and the reservation it is charged to.
 *
 * @since 0.2.0
 * @category models
 */
export interface Call {
  readonly model: string
  readonly maxOutputTokens: number
  readonly reservation: string
  readonly attempt: number
}

/**
 * Provided to a provider's `LanguageModel` while a routed call runs. A
 * provider reads it with `Effect.serviceOption` (a call made outside the
 * router has none).
 *
 * @since 0.2.0
 * @category tags
 */
export class CallContext extends Context.Tag("@agentos/router/ModelProvider/CallContext")<CallContext, Call>() {}

/**
 * The routed call being run, if any.
 *
 * @since 0.2.0
 * @category accessors
 */
export const currentCall: Effect.Effect<Option.Option<Call>> = Effect.serviceOption(CallContext)

/**
 * One provider as a layer.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (provider: ModelProvider): Layer.Layer<ModelProviders> => Layer.succeed(ModelProviders, [provider])

/**
 * Several provider layers as one: their providers in the order given (the
 * first that serves a model runs it).
 *
 * @since 0.2.0
 * @category layers
 */
export const combine = <const Layers extends ReadonlyArray<Layer.Layer<ModelProviders, any, any>>>(
  ...layers: Layers
): Layer.Layer<
  ModelProviders,
  Layer.Layer.Error<Layers[number]>,
  Layer.Layer.Context<Layers[number]>
> =>
  Layer.scopedContext(
    Effect.map(
      Effect.forEach(layers, (l) => Effect.map(Layer.build(l), Context.get(ModelProviders))),
      (lists) => Context.make(ModelProviders, lists.flat())
    )
  )
