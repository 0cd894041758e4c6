/**
 * A provider's `LanguageModel` that sends the routed call's output cap: the
 * provider's own way of overriding its request config, for effects and for
 * streams, applied when a routed call is running (`CallContext`).
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
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
