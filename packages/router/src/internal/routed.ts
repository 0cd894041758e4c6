/**
 * The routed `LanguageModel`: every call is routed, reserved before it is
 * sent and settled after it with the provider's usage.
 *
 * - a response with a finish part that reports usage settles at that usage;
 * - a response without one settles at the input and its text counted with
 *   the `TokenCounter`, marked estimated;
 * - a failed call is cancelled (a provider does not bill a failed request);
 * - an interrupted call is settled at its reservation (it may have spent it);
 * - a stream settles when it ends: at its finish part's usage, else at what
 *   it delivered (estimated); when its consumer stops early or it is
 *   interrupted, at its reservation; when it fails, at what it delivered,
 *   or cancelled if it delivered nothing.
 */
import * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import {
  type InvalidInput,
  InvalidOptions,
  type NoEligibleModel,
  type ReservationExpired,
  type ReservationNotFound,
  type SpendLimitExceeded,
  type StoreError
} from "../Errors.js"
import type * as Model from "../Model.js"
import * as ModelProvider from "../ModelProvider.js"
import * as Route from "../Route.js"
import type * as RoutedLanguageModel from "../RoutedLanguageModel.js"
import type * as Router from "../Router.js"
import { promptText } from "./prompt.js"

type RouterFailure =
  | NoEligibleModel
  | SpendLimitExceeded
  | ReservationNotFound
  | ReservationExpired
  | InvalidInput
  | StoreError

/** A router failure as the `AiError` the `LanguageModel` interface allows; the typed error is its `cause`. */
export const toAiError = (method: string) => (error: { readonly _tag: string; readonly message: string }) =>
  new AiError.UnknownError({
    module: "RoutedLanguageModel",
    method,
    description: `${error._tag}: ${error.message}`,
    cause: error
  })

export const routerError = (error: AiError.AiError): Option.Option<RouterFailure> =>
  error._tag === "UnknownError" && error.module === "RoutedLanguageModel" && typeof error.cause === "object" &&
    error.cause !== null && "_tag" in error.cause
    ? Option.some(error.cause as RouterFailure)
    : Option.none()

/** The usage a response's finish part reports, or the text to count when it reports none. */
export const outcomeOf = (
  content: ReadonlyArray<{ readonly type: string }>,
  text: string
): Router.Outcome => {
  const finish = content.find((part): part is Response.FinishPart => part.type === "finish")
  const usage = finish?.usage
  if (usage === undefined || usage.inputTokens === undefined || usage.outputTokens === undefined) {
    return { outputText: text }
  }
  return {
    usage: {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens ?? 0,
      reasoningTokens: usage.reasoningTokens ?? 0,
      source: "reported"
    }
  }
}

export const make = (
  options: RoutedLanguageModel.Options,
  router: Router.RouterService,
  providers: ReadonlyArray<ModelProvider.ModelProvider>
): Effect.Effect<LanguageModel.Service, InvalidOptions> =>
  Effect.gen(function*() {
    const scopes = options.scopes
    if (scopes.length === 0) return yield* new InvalidOptions({ message: "scopes: a routed call needs a spend scope" })
    const outputTokens = options.outputTokens ?? 512
    if (!Number.isSafeInteger(outputTokens) || outputTokens < 1) {
      return yield* new InvalidOptions({ message: "outputTokens must be a positive integer" })
    }
    const services = new Map<string, LanguageModel.Service>()
    const serviceFor = (model: Model.Model): Effect.Effect<LanguageModel.Service, AiError.AiError> => {
      const known = services.get(model.name)
      if (known !== undefined) return Effect.succeed(known)
      const provider = providers.find((p) => p.serves(model))
      if (provider === undefined) {
        return Effect.fail(
          new AiError.UnknownError({
            module: "RoutedLanguageModel",
            method: "provider",
            description: `no provider serves the model "${model.name}" (provider "${model.provider}")`
          })
        )
      }
      return Effect.tap(
        provider.languageModel(model),
        (service) => Effect.sync(() => services.set(model.name, service))
      )
    }

    const requestOf = (
      prompt: Prompt.RawInput,
      needs: ReadonlyArray<Model.Capability>
    ): Effect.Effect<Route.RouteRequest & { readonly scopes: ReadonlyArray<string> }> =>
      Effect.map(Effect.serviceOption(Route.Hints), (given) => {
        const hints: Route.CallHints = Option.getOrElse(given, () => ({}))
        const requires = [...new Set([...(hints.requires ?? []), ...needs])]
        const request: Route.RouteRequest & { scopes: ReadonlyArray<string> } = {
          ...hints,
          prompt: promptText(Prompt.make(prompt)),
          outputTokens: hints.outputTokens ?? outputTokens,
          ...(hints.maxOutputTokens ?? options.maxOutputTokens) === undefined
            ? {}
            : { maxOutputTokens: (hints.maxOutputTokens ?? options.maxOutputTokens)! },
          ...(requires.length === 0 ? {} : { requires }),
          scopes: hints.scopes ?? scopes
        }
        return request
      })

    const callOf = (hold: Router.Hold, attempt: number): ModelProvider.Call => ({
      model: hold.decision.model.name,
      maxOutputTokens: hold.decision.maxOutputTokens,
      reservation: hold.reservation.id,
      attempt
    })

    /** Route, reserve, run, settle: one call that returns a response. */
    const generate = <
      A extends { readonly content: ReadonlyArray<{ readonly type: string }>; readonly text: string },
      E,
      R
    >(
      method: string,
      prompt: Prompt.RawInput,
      needs: ReadonlyArray<Model.Capability>,
      run: (service: LanguageModel.Service) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | AiError.AiError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const request = yield* requestOf(prompt, needs)
          const decision = yield* restore(router.route(request)).pipe(Effect.mapError(toAiError(method)))
          const hold = yield* router.reserve(decision, request.scopes).pipe(Effect.mapError(toAiError(method)))
          const exit = yield* Effect.exit(
            restore(
              Effect.flatMap(
                serviceFor(decision.model),
                (service) => run(service).pipe(Effect.provideService(ModelProvider.CallContext, callOf(hold, 1)))
              )
            )
          )
          if (Exit.isSuccess(exit)) {
            yield* router.settle(hold, outcomeOf(exit.value.content, exit.value.text)).pipe(
              Effect.mapError(toAiError(method))
            )
            return exit.value
          }
          if (Cause.isInterruptedOnly(exit.cause)) yield* Effect.ignore(router.settleInterrupted(hold))
          else yield* Effect.ignore(router.cancel(hold))
          return yield* Effect.failCause(exit.cause)
        })
      )

    const streamText = (streamOptions: LanguageModel.GenerateTextOptions<any>) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        let text = ""
        let finish: Response.FinishPart | undefined
        let ended = false
        const request = yield* requestOf(streamOptions.prompt, ["streaming"])
        const decision = yield* router.route(request).pipe(Effect.mapError(toAiError("streamText")))
        const service = yield* serviceFor(decision.model)
        const hold = yield* Effect.acquireRelease(
          router.reserve(decision, request.scopes).pipe(Effect.mapError(toAiError("streamText"))),
          (hold, exit) =>
            Effect.ignore(Effect.suspend((): Effect.Effect<unknown, unknown> => {
              if (finish !== undefined) return router.settle(hold, outcomeOf([finish], text))
              if (ended) return router.settle(hold, { outputText: text })
              if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
                return text.length === 0 ? router.cancel(hold) : router.settle(hold, { outputText: text })
              }
              // Stopped early by its consumer, or interrupted: the provider
              // may have spent the whole reservation.
              return router.settleInterrupted(hold)
            }))
        )
        return service.streamText(streamOptions).pipe(
          Stream.tap((part) =>
            Effect.sync(() => {
              if (part.type === "text-delta") text += part.delta
              else if (part.type === "finish") finish = part
            })
          ),
          Stream.concat(
            Stream.fromEffect(Effect.sync(() => {
              ended = true
            })).pipe(Stream.drain)
          ),
          Stream.provideService(ModelProvider.CallContext, callOf(hold, 1))
        )
      }))

    const service: LanguageModel.Service = {
      generateText: ((o: LanguageModel.GenerateTextOptions<any>) =>
        generate(
          "generateText",
          o.prompt,
          o.toolkit === undefined ? [] : ["tools"],
          (s) => s.generateText(o)
        )) as LanguageModel.Service["generateText"],
      generateObject: ((o: LanguageModel.GenerateObjectOptions<any, any, any, any>) =>
        generate(
          "generateObject",
          o.prompt,
          o.toolkit === undefined ? ["json"] : ["json", "tools"],
          (s) => s.generateObject(o)
        )) as LanguageModel.Service["generateObject"],
      streamText: ((o: LanguageModel.GenerateTextOptions<any>) =>
        streamText(o)) as unknown as LanguageModel.Service["streamText"]
    }
    return service
  })
