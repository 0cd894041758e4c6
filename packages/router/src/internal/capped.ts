/**
 * A provider's `LanguageModel` that sends the routed call's output cap: the
 * provider's own way of overriding its request config, for effects and for
 * streams, applied when a routed call is running (`CallContext`).
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ModelProvider from "../ModelProvider.js"

export interface Override {
  readonly effect: (maxOutputTokens: number) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stream: (maxOutputTokens: number) => <A, E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
}

export const capped = (service: LanguageModel.Service, override: Override): LanguageModel.Service => {
  const effect = <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.flatMap(
      ModelProvider.currentCall,
      (call) => Option.isSome(call) ? override.effect(call.value.maxOutputTokens)(self) : self
    )
  return {
    generateText: ((options: any) => effect(service.generateText(options))) as LanguageModel.Service["generateText"],
    generateObject:
      ((options: any) => effect(service.generateObject(options))) as LanguageModel.Service["generateObject"],
    streamText: ((options: any) =>
      Stream.unwrap(Effect.map(ModelProvider.currentCall, (call) =>
        Option.isSome(call)
          ? override.stream(call.value.maxOutputTokens)(service.streamText(options))
          : service.streamText(options)))) as LanguageModel.Service["streamText"]
  }
}

/**
 * The override of a provider whose request config is a service (`config`,
 * read with `getOrUndefined`): the config in scope, with the cap's fields set.
 */
export const configOverride = <I, S>(
  config: Context.Tag<I, S>,
  getOrUndefined: Effect.Effect<S | undefined>,
  cap: (maxOutputTokens: number) => Partial<S>
): Override => {
  const withCap = (max: number) => Effect.map(getOrUndefined, (current) => ({ ...current, ...cap(max) }) as S)
  return {
    effect: (max) => (self) => Effect.provideServiceEffect(self, config, withCap(max)),
    stream: (max) => (self) => Stream.provideServiceEffect(self, config, withCap(max))
  }
}
