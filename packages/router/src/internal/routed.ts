/**
 * The routed `LanguageModel`: every call is routed, reserved before it is
 * sent and settled after it with the provider's usage.
 *
 * - a response with a finish part that reports usage settles at that usage;
 * - a response without one settles at the input and its text counted with
 *   the `TokenCounter`, marked estimated;
 * - a call the provider refused (HTTP error status, transport error) is
 *   cancelled: a provider does not bill a failed request;
 * - an object `generateObject` cannot decode is settled at what the answer
 *   reports (recorded through `@effect/ai`'s span transformer, which sees
 *   the answer before the object is decoded);
 * - a call that failed otherwise (a tool handler that fails, a body cut
 *   after a 2xx status) may have been answered and billed: it is settled at
 *   its reservation;
 * - a call interrupted before it was sent is cancelled; one interrupted
 *   after is settled at its reservation (it may have spent it);
 * - a stream settles when it ends: at its finish part's usage, else at what
 *   it delivered (estimated); when its consumer stops early or it is
 *   interrupted, at its reservation; when it fails, at what it delivered,
 *   or cancelled if it delivered nothing. An `error` part from the provider
 *   makes the attempt failed (decision log, cooldown).
 */
import * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Telemetry from "@effect/ai/Telemetry"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as DecisionLog from "../DecisionLog.js"
import {
  InvalidInput,
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
import { make as makeHealth } from "./health.js"
import type * as health from "./health.js"
import { promptHasImage, promptText } from "./prompt.js"
import * as routing from "./routing.js"

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
  text: string,
  cachedInputSeparate = false
): Router.Outcome => {
  const finish = content.find((part): part is Response.FinishPart => part.type === "finish")
  const usage = finish?.usage
  if (usage === undefined || usage.inputTokens === undefined || usage.outputTokens === undefined) {
    return { outputText: text }
  }
  const cached = usage.cachedInputTokens ?? 0
  return {
    usage: {
      inputTokens: cachedInputSeparate
        ? usage.inputTokens + cached + cacheWrites(finish!)
        : usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: cached,
      reasoningTokens: usage.reasoningTokens ?? 0,
      source: "reported"
    }
  }
}

/**
 * Input tokens written to a provider's prompt cache, which its usage counts
 * apart from `inputTokens` and `@effect/ai`'s usage leaves out: Anthropic's
 * `cache_creation_input_tokens`, kept in the finish part's metadata. They
 * are billed, so they are charged (at the input price: the catalog has no
 * cache-write price).
 */
const cacheWrites = (finish: Response.FinishPart): number => {
  const usage = (finish.metadata as { readonly anthropic?: { readonly usage?: unknown } } | undefined)?.anthropic
    ?.usage
  const writes = typeof usage === "object" && usage !== null
    ? (usage as { readonly cache_creation_input_tokens?: unknown }).cache_creation_input_tokens
    : undefined
  return typeof writes === "number" && Number.isSafeInteger(writes) && writes > 0 ? writes : 0
}

const NO_PROVIDER: ReadonlyArray<Router.Exclusion> = ["no-provider"]

/** The error object a provider reported inside a stream (`{ type, code, message }`, nested under `error` or not). */
const innerOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "error" in error &&
    typeof (error as { error: unknown }).error === "object"
    ? (error as { error: unknown }).error
    : error

/**
 * Whether an error reported inside a stream is one the provider would have
 * answered with a retryable status: overloaded, rate-limited, a server
 * error, or a code of 408, 409, 429 or 5xx.
 */
const reportedRetryable = (error: unknown): boolean => {
  const inner = innerOf(error)
  if (typeof inner !== "object" || inner === null) return false
  const { code, type } = inner as { type?: unknown; code?: unknown }
  return [type, code].some((value) => {
    const status = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN
    if (Number.isInteger(status)) return status === 408 || status === 409 || status === 429 || status >= 500
    return typeof value === "string" &&
      /overloaded|rate_limit|server_error|api_error|internal_error|unavailable|timeout/i.test(value)
  })
}

/**
 * Failures the routed model makes itself that a fallback may follow: a
 * retryable error reported inside a stream before it delivered anything, and
 * an attempt that timed out.
 */
const retryableFailures = new WeakSet<object>()

/** The text of an error a provider reported inside a stream (`{ type, message }`, nested or not). */
const describeReported = (error: unknown): string => {
  const inner = innerOf(error)
  if (typeof inner !== "object" || inner === null) return `the provider reported an error: ${String(inner)}`
  const { code, message, type } = inner as { type?: unknown; code?: unknown; message?: unknown }
  const kind = [type, code].filter((v) => typeof v === "string" && v !== "error").join(" ")
  return `the provider reported an error: ${kind}${kind.length > 0 && typeof message === "string" ? ": " : ""}${
    typeof message === "string" ? message : ""
  }`
}

interface StreamState {
  readonly attempts: Array<DecisionLog.Attempt>
  readonly tried: Set<string>
  last: AiError.AiError | undefined
  /** Whether the attempt that just failed may fall back (it delivered nothing, and may be retried). */
  fallback: boolean
}

/** Whether a provider's error may be retried on another model, and the `Retry-After` it gave. */
export const classify = (error: unknown): {
  readonly retryable: boolean
  readonly status: number | undefined
  readonly retryAfterMillis: number | undefined
  readonly description: string
} => {
  const description = typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : String(error)
  if (typeof error === "object" && error !== null && retryableFailures.has(error)) {
    return { retryable: true, status: undefined, retryAfterMillis: undefined, description }
  }
  if (AiError.isAiError(error)) {
    if (error._tag === "HttpResponseError") {
      const status = error.response.status
      const headers = error.response.headers
      return {
        retryable: status === 408 || status === 409 || status === 429 || status >= 500,
        status,
        retryAfterMillis: retryAfter(headers),
        description
      }
    }
    if (error._tag === "HttpRequestError") {
      return { retryable: error.reason === "Transport", status: undefined, retryAfterMillis: undefined, description }
    }
  }
  return { retryable: false, status: undefined, retryAfterMillis: undefined, description }
}

/**
 * Whether a failed call is known to have cost nothing: the provider refused
 * it (an HTTP error status), it never got an answer through (a transport
 * error), or its adapter could not encode it and never sent it (a
 * `MalformedInput` from a provider's request preparation; the toolkit's own
 * `MalformedInput`, raised on a tool result after the answer, is not one).
 * Any other failure — an answer that does not decode, a body or stream cut
 * after a 2xx status (an `HttpResponseError` whose reason is not
 * `StatusCode`), a tool handler that fails, a defect — may come after the
 * provider answered and billed.
 */
export const unbilled = (cause: Cause.Cause<unknown>): boolean => {
  const error = Option.getOrUndefined(Cause.failureOption(cause))
  return Cause.isFailType(cause) && AiError.isAiError(error) &&
    (error._tag === "HttpRequestError" ||
      (error._tag === "MalformedInput" && error.module !== "Toolkit") ||
      (error._tag === "HttpResponseError" && error.reason === "StatusCode" &&
        (error.response.status < 200 || error.response.status >= 300)))
}

/** `retry-after-ms`, or `retry-after` in seconds or as an HTTP date (judged against the wall clock it names). */
const retryAfter = (headers: Readonly<Record<string, string>>): number | undefined => {
  const get = (name: string) => headers[name] ?? headers[name.toLowerCase()]
  const ms = get("retry-after-ms")
  if (ms !== undefined && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.ceil(Number(ms))
  const value = get("retry-after")
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (value.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000)
  const date = Date.parse(value)
  // An HTTP date is the server's wall clock, not our Clock: the only clock it can be read against.
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

export interface Built {
  readonly model: LanguageModel.Service
  readonly log: DecisionLog.DecisionLogService
}

export const make = (
  options: RoutedLanguageModel.Options,
  router: Router.RouterService,
  providers: ReadonlyArray<ModelProvider.ModelProvider>
): Effect.Effect<Built, InvalidOptions> =>
  Effect.gen(function*() {
    const scopes = options.scopes
    if (scopes.length === 0) return yield* new InvalidOptions({ message: "scopes: a routed call needs a spend scope" })
    const outputTokens = options.outputTokens ?? 512
    if (!Number.isSafeInteger(outputTokens) || outputTokens < 1) {
      return yield* new InvalidOptions({ message: "outputTokens must be a positive integer" })
    }
    const positiveInt = (name: string, value: number | undefined, fallback: number) =>
      value === undefined
        ? Effect.succeed(fallback)
        : Number.isSafeInteger(value) && value > 0
        ? Effect.succeed(value)
        : Effect.fail(new InvalidOptions({ message: `${name} must be a positive integer` }))
    const maxAttempts = yield* positiveInt("maxAttempts", options.maxAttempts, 3)
    const failuresBeforeCooldown = yield* positiveInt("cooldown.failures", options.cooldown?.failures, 3)
    const logSize = yield* positiveInt("decisionLogSize", options.decisionLogSize, 1_000)
    const cooldown = Duration.decodeUnknown(options.cooldown?.duration ?? "1 minute")
    if (Option.isNone(cooldown) || !Duration.isFinite(cooldown.value)) {
      return yield* new InvalidOptions({ message: "cooldown.duration must be a finite duration" })
    }
    const limitsOf = (name: string, record: Readonly<Record<string, health.Limit>> | undefined) => {
      const map = new Map<string, health.Limit>()
      for (const [key, limit] of Object.entries(record ?? {})) {
        for (const value of [limit.requestsPerMinute, limit.tokensPerMinute]) {
          if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
            return Effect.fail(
              new InvalidOptions({ message: `${name}.${key}: limits must be positive integers per minute` })
            )
          }
        }
        map.set(key, limit)
      }
      return Effect.succeed(map)
    }
    const health = makeHealth({
      failuresBeforeCooldown,
      cooldownMillis: Duration.toMillis(cooldown.value),
      models: yield* limitsOf("limits.models", options.limits?.models),
      providers: yield* limitsOf("limits.providers", options.limits?.providers)
    })
    let timeoutMillis: number | undefined
    if (options.timeout !== undefined) {
      const timeout = Duration.decodeUnknown(options.timeout)
      if (Option.isNone(timeout) || !Duration.isFinite(timeout.value) || Duration.toMillis(timeout.value) <= 0) {
        return yield* new InvalidOptions({ message: "timeout must be a positive, finite duration" })
      }
      timeoutMillis = Duration.toMillis(timeout.value)
    }
    /** The failure of an attempt that timed out: retryable, so the call falls back. */
    const timedOut = (method: string, model: string) => () => {
      const failure = new AiError.UnknownError({
        module: "RoutedLanguageModel.timeout",
        method,
        description: `the model "${model}" gave nothing within ${timeoutMillis} ms`
      })
      retryableFailures.add(failure)
      return failure
    }
    const log = makeLog(logSize)
    // A settlement the store failed to record would leave the reservation
    // open until it expires (then charged in full): a failing store is
    // retried a few times before the settlement is given up on.
    const durable = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
      Effect.retry(effect, {
        while: (error) => error._tag === "StoreError",
        schedule: Schedule.intersect(Schedule.exponential("25 millis"), Schedule.recurs(4))
      })
    const settle = (hold: Router.Hold, outcome: Router.Outcome) => durable(router.settle(hold, outcome))
    const settleInterrupted = (hold: Router.Hold) => durable(router.settleInterrupted(hold))
    const cancel = (hold: Router.Hold) => durable(router.cancel(hold))
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

    /**
     * The prompt's text, and whether it holds an image (the call then needs
     * `vision`); a prompt that is not valid is `InvalidInput` (behind an
     * `AiError`), not a defect.
     */
    const textOf = (
      prompt: Prompt.RawInput,
      method: string
    ): Effect.Effect<{ readonly text: string; readonly image: boolean }, AiError.AiError> => {
      // A string prompt is its own text: no need to build the Prompt.
      if (typeof prompt === "string") return Effect.succeed({ text: prompt, image: false })
      try {
        const made = Prompt.make(prompt)
        return Effect.succeed({ text: promptText(made), image: promptHasImage(made) })
      } catch (error) {
        return Effect.fail(
          toAiError(method)(
            new InvalidInput({ message: `the prompt is not valid: ${error instanceof Error ? error.message : error}` })
          )
        )
      }
    }

    const requestOf = (
      prompt: Prompt.RawInput,
      needs: ReadonlyArray<Model.Capability>,
      method: string
    ): Effect.Effect<Route.RouteRequest & { readonly scopes: ReadonlyArray<string> }, AiError.AiError> =>
      Effect.zipWith(Effect.serviceOption(Route.Hints), textOf(prompt, method), (given, { image, text }) => {
        const hints: Route.CallHints = Option.getOrElse(given, () => ({}))
        const requires = [...new Set([...(hints.requires ?? []), ...needs, ...(image ? ["vision" as const] : [])])]
        const request: Route.RouteRequest & { scopes: ReadonlyArray<string> } = {
          ...hints,
          prompt: text,
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

    const served = new Map<string, boolean>()
    const isServed = (model: Model.Model) => {
      let known = served.get(model.name)
      if (known === undefined) {
        known = providers.some((p) => p.serves(model))
        served.set(model.name, known)
      }
      return known
    }
    const providerName = (model: Model.Model) => providers.find((p) => p.serves(model))?.name
    const separate = (model: Model.Model) => providers.find((p) => p.serves(model))?.cachedInputSeparate === true

    /** Reasons from outside the catalog: no provider, failed this call, cooling down, rate-limited. */
    const exclusions = (tried: ReadonlySet<string>, now: number) => (model: Model.Model, tokens: number) => {
      if (!isServed(model)) return NO_PROVIDER
      const reasons = health.reasons(model, tokens, now)
      return tried.has(model.name) ? [...reasons, "failed-this-call" as const] : reasons
    }

    const routeAttempt = (
      request: Route.RouteRequest & { readonly scopes: ReadonlyArray<string> },
      tried: ReadonlySet<string>
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(router.route(request, { exclude: exclusions(tried, now) }), (decision) =>
          // Applied before the call is sent: a limit the decision raced past refuses the model.
          health.admit(decision.model, decision.inputTokens + decision.maxOutputTokens, now)
            ? Effect.succeed(decision)
            : router.route(request, { exclude: exclusions(tried, now) }).pipe(
              Effect.filterOrElse(
                (again) =>
                  health.admit(again.model, again.inputTokens + again.maxOutputTokens, now),
                (again) =>
                  Effect.fail(
                    routing.noEligibleModel([
                      ...again.rejected,
                      {
                        model: again.model.name,
                        reasons: ["rate-limited"],
                        estimatedCost: again.estimatedCost,
                        estimatedLatencyMillis: again.estimatedLatencyMillis
                      }
                    ])
                  )
              )
            )))

    const attemptOf = (
      n: number,
      startedAt: number,
      endedAt: number,
      fields: Partial<DecisionLog.Attempt> & Pick<DecisionLog.Attempt, "outcome">
    ): DecisionLog.Attempt => ({
      attempt: n,
      model: undefined,
      provider: undefined,
      rejected: [],
      reservation: undefined,
      reserved: 0,
      startedAt,
      endedAt,
      ...fields
    })

    const heldFields = (hold: Router.Hold) => ({
      model: hold.decision.model.name,
      provider: providerName(hold.decision.model),
      rejected: hold.decision.rejected,
      reservation: hold.reservation.id,
      reserved: hold.reservation.amount
    })

    const failureFields = (error: unknown) => {
      const info = classify(error)
      return {
        error: info.description,
        status: info.status,
        retryable: info.retryable,
        retryAfterMillis: info.retryAfterMillis
      }
    }

    const routeFailure = (error: unknown) =>
      typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "NoEligibleModel"
        ? { outcome: "no-model" as const, rejected: (error as NoEligibleModel).rejections }
        : { outcome: "refused" as const, error: String((error as { message?: unknown }).message ?? error) }

    /**
     * Route, reserve, run, settle; on a retryable provider failure, cancel
     * and try again with the models that failed this call passed over.
     */
    const generate = <
      A extends { readonly content: ReadonlyArray<{ readonly type: string }>; readonly text: string },
      E,
      R
    >(
      method: DecisionLog.Entry["method"],
      prompt: Prompt.RawInput,
      needs: ReadonlyArray<Model.Capability>,
      run: (
        service: LanguageModel.Service,
        answered: (response: ReadonlyArray<{ readonly type: string }>) => void
      ) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | AiError.AiError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const request = yield* requestOf(prompt, needs, method)
          const at = yield* Clock.currentTimeMillis
          const attempts: Array<DecisionLog.Attempt> = []
          const tried = new Set<string>()
          const finish = (outcome: DecisionLog.Entry["outcome"]) =>
            log.add({ method, scopes: request.scopes, at, outcome, attempts })
          let last: Cause.Cause<E | AiError.AiError> | undefined
          for (let n = 1; n <= maxAttempts; n++) {
            const startedAt = yield* Clock.currentTimeMillis
            const routed = yield* Effect.either(
              restore(routeAttempt(request, tried)).pipe(
                // Interrupted while a fallback is routed: the call, and the
                // attempts it already made, still go in the decision log.
                Effect.onInterrupt(() =>
                  Effect.flatMap(Clock.currentTimeMillis, (endedAt) =>
                    Effect.sync(() => {
                      if (attempts.length === 0) {
                        return
                      }
                      attempts.push(attemptOf(n, startedAt, endedAt, { outcome: "interrupted" }))
                      finish("interrupted")
                    }))
                )
              )
            )
            if (Either.isLeft(routed)) {
              attempts.push(attemptOf(n, startedAt, yield* Clock.currentTimeMillis, routeFailure(routed.left)))
              finish("failed")
              return yield* last === undefined ? Effect.fail(toAiError(method)(routed.left)) : Effect.failCause(last)
            }
            const decision = routed.right
            const found = yield* Effect.either(serviceFor(decision.model))
            if (Either.isLeft(found)) {
              attempts.push(attemptOf(n, startedAt, yield* Clock.currentTimeMillis, {
                model: decision.model.name,
                rejected: decision.rejected,
                outcome: "failed",
                error: found.left.message
              }))
              finish("failed")
              return yield* last === undefined ? Effect.fail(found.left) : Effect.failCause(last)
            }
            const service = found.right
            const held = yield* Effect.either(router.reserve(decision, request.scopes))
            if (Either.isLeft(held)) {
              attempts.push(attemptOf(n, startedAt, yield* Clock.currentTimeMillis, {
                model: decision.model.name,
                provider: providerName(decision.model),
                rejected: decision.rejected,
                ...routeFailure(held.left)
              }))
              finish("failed")
              return yield* Effect.fail(toAiError(method)(held.left))
            }
            const hold = held.right
            let sent = false
            // The provider's answer, when the call recorded it before failing.
            let answer: ReadonlyArray<{ readonly type: string }> | undefined
            const exit = yield* Effect.exit(
              restore(
                Effect.suspend(() => {
                  sent = true
                  const call = run(service, (response) => {
                    answer = response
                  }).pipe(Effect.provideService(ModelProvider.CallContext, callOf(hold, n)))
                  return timeoutMillis === undefined ? call : Effect.timeoutFail(call, {
                    duration: timeoutMillis,
                    onTimeout: timedOut(method, decision.model.name)
                  })
                })
              )
            )
            const endedAt = yield* Clock.currentTimeMillis
            if (Exit.isSuccess(exit)) {
              const settled = yield* Effect.either(
                settle(hold, outcomeOf(exit.value.content, exit.value.text, separate(decision.model)))
              )
              health.succeeded(decision.model.name)
              attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "succeeded",
                ...(Either.isRight(settled)
                  ? { charged: settled.right.charged, estimated: settled.right.estimated }
                  : { error: settled.left.message })
              }))
              finish("succeeded")
              // A reservation that expired while the call ran was charged in
              // full by the ledger: the answer, paid for, is the caller's.
              if (Either.isLeft(settled) && settled.left._tag !== "ReservationExpired") {
                return yield* Effect.fail(toAiError(method)(settled.left))
              }
              return exit.value
            }
            if (!sent) {
              // Interrupted before the call went out: nothing was spent.
              yield* Effect.ignore(cancel(hold))
              attempts.push(
                attemptOf(n, startedAt, endedAt, { ...heldFields(hold), outcome: "interrupted", charged: 0 })
              )
              finish("interrupted")
              return yield* Effect.failCause(exit.cause)
            }
            if (Cause.isInterruptedOnly(exit.cause)) {
              const settled = yield* Effect.either(settleInterrupted(hold))
              attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "interrupted",
                ...(Either.isRight(settled) ? { charged: settled.right.charged, estimated: true } : {})
              }))
              finish("interrupted")
              return yield* Effect.failCause(exit.cause)
            }
            const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
            const fields = failureFields(error)
            if (unbilled(exit.cause)) {
              yield* Effect.ignore(cancel(hold))
              attempts.push(attemptOf(n, startedAt, endedAt, { ...heldFields(hold), outcome: "failed", ...fields }))
            } else if (answer !== undefined) {
              // The provider answered, then the call failed on its answer (an
              // object that does not decode): charged what the answer reports.
              const text = answer.flatMap((part) =>
                part.type === "text" ? [(part as Response.TextPart).text] : []
              )
                .join("")
              const settled = yield* Effect.either(settle(hold, outcomeOf(answer, text, separate(decision.model))))
              attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "failed",
                ...fields,
                ...(Either.isRight(settled)
                  ? { charged: settled.right.charged, estimated: settled.right.estimated }
                  : {})
              }))
            } else {
              // The provider may have answered (and billed) before the call
              // failed: its usage is unknown, so it is charged its reservation.
              const settled = yield* Effect.either(settleInterrupted(hold))
              attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "failed",
                ...fields,
                ...(Either.isRight(settled) ? { charged: settled.right.charged, estimated: true } : {})
              }))
            }
            last = exit.cause
            if (!fields.retryable) {
              break
            }
            health.failed(decision.model.name, endedAt, fields.retryAfterMillis)
            tried.add(decision.model.name)
          }
          finish("failed")
          return yield* Effect.failCause(last!)
        })
      )

    /** One attempt of a stream: routed, reserved, settled when its scope closes. */
    const streamAttempt = (
      streamOptions: LanguageModel.GenerateTextOptions<any>,
      request: Route.RouteRequest & { readonly scopes: ReadonlyArray<string> },
      state: StreamState,
      n: number
    ): Stream.Stream<Response.StreamPart<any>, AiError.AiError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        let text = ""
        let delivered = false
        let finish: Response.FinishPart | undefined
        let ended = false
        // An error the provider reported inside the stream (an `error` part
        // after a 2xx status: Anthropic's `overloaded_error`, OpenAI's `error` event).
        let reported: unknown = undefined
        let erred = false
        // Whether the provider's stream was started (the request sent).
        let sent = false
        state.fallback = false
        const startedAt = yield* Clock.currentTimeMillis
        const routed = yield* Effect.either(routeAttempt(request, state.tried))
        if (Either.isLeft(routed)) {
          state.attempts.push(attemptOf(n, startedAt, yield* Clock.currentTimeMillis, routeFailure(routed.left)))
          return yield* Effect.fail(state.last ?? toAiError("streamText")(routed.left))
        }
        const decision = routed.right
        const service = yield* serviceFor(decision.model)
        const settleWith = (hold: Router.Hold) => (exit: Exit.Exit<unknown, unknown>) =>
          Effect.gen(function*() {
            const endedAt = yield* Clock.currentTimeMillis
            const failed = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
            const settling = finish !== undefined
              ? settle(hold, outcomeOf([finish], text, separate(decision.model)))
              // Ended, or failed after the provider answered (delivered, or reported an error): what it delivered.
              : ended || (failed && (delivered || erred))
              ? settle(hold, { outputText: text })
              : !sent || (failed && unbilled(exit.cause))
              // Never sent, or refused by the provider before it answered: nothing was spent.
              ? Effect.as(cancel(hold), undefined)
              // Stopped early by its consumer, interrupted, or failed after the
              // provider may have answered: it may have spent the whole reservation.
              : settleInterrupted(hold)
            const settled = yield* Effect.either(settling)
            const charged = Either.isRight(settled) && settled.right !== undefined
              ? { charged: settled.right.charged, estimated: settled.right.estimated }
              : {}
            if (failed) {
              const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
              const fields = failureFields(error)
              state.attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "failed",
                ...fields,
                ...charged
              }))
              state.fallback = !delivered && fields.retryable
              if (fields.retryable) {
                health.failed(decision.model.name, endedAt, fields.retryAfterMillis)
                state.tried.add(decision.model.name)
              }
            } else if (erred) {
              // The provider failed the call inside the stream: a failure of
              // the model (toward its cooldown), though the stream itself ended.
              health.failed(decision.model.name, endedAt, undefined)
              state.attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: "failed",
                error: describeReported(reported),
                retryable: false,
                ...charged
              }))
            } else {
              if (finish !== undefined || ended) {
                health.succeeded(decision.model.name)
              }
              state.attempts.push(attemptOf(n, startedAt, endedAt, {
                ...heldFields(hold),
                outcome: finish !== undefined || ended ? "succeeded" : "interrupted",
                ...charged
              }))
            }
          })
        // The reservation and its finalizer in one step: an interruption
        // cannot land between them and leave the reservation open.
        const held = yield* Effect.uninterruptible(
          Effect.tap(
            Effect.either(router.reserve(decision, request.scopes)),
            (held) => Either.isRight(held) ? Effect.addFinalizer(settleWith(held.right)) : Effect.void
          )
        )
        if (Either.isLeft(held)) {
          state.attempts.push(attemptOf(n, startedAt, yield* Clock.currentTimeMillis, {
            model: decision.model.name,
            provider: providerName(decision.model),
            rejected: decision.rejected,
            ...routeFailure(held.left)
          }))
          return yield* Effect.fail(toAiError("streamText")(held.left))
        }
        const hold = held.right
        return Stream.suspend(() => {
          sent = true
          const parts = service.streamText(streamOptions)
          // A part at least every `timeout`, or the attempt fails (retryable).
          return timeoutMillis === undefined
            ? parts
            : Stream.timeoutFail(parts, timedOut("streamText", decision.model.name), timeoutMillis)
        }).pipe(
          Stream.mapEffect((part): Effect.Effect<Response.StreamPart<any>, AiError.AiError> => {
            if (part.type === "text-delta") {
              text += part.delta
              delivered = true
            } else if (part.type === "finish") {
              finish = part
            } else if (part.type === "error") {
              erred = true
              reported = part.error
              // A retryable error before anything was delivered (Anthropic's
              // overloaded_error after the 200): a failure like a 529, so the
              // call falls back rather than pass the error on.
              if (!delivered && reportedRetryable(part.error)) {
                const failure = new AiError.UnknownError({
                  module: "RoutedLanguageModel.stream",
                  method: "streamText",
                  description: describeReported(part.error),
                  cause: part.error
                })
                retryableFailures.add(failure)
                return Effect.fail(failure)
              }
            } else if (part.type !== "response-metadata" && part.type !== "text-start") {
              delivered = true
            }
            return Effect.succeed(part)
          }),
          Stream.concat(
            Stream.fromEffect(Effect.sync(() => {
              ended = true
            })).pipe(Stream.drain)
          ),
          Stream.provideService(ModelProvider.CallContext, callOf(hold, n))
        )
      })).pipe(
        Stream.catchAll((error) => {
          state.last = error
          return state.fallback && n < maxAttempts
            ? streamAttempt(streamOptions, request, state, n + 1)
            : Stream.fail(error)
        })
      )

    const streamText = (streamOptions: LanguageModel.GenerateTextOptions<any>) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const request = yield* requestOf(
          streamOptions.prompt,
          streamOptions.toolkit === undefined ? ["streaming"] : ["streaming", "tools"],
          "streamText"
        )
        const at = yield* Clock.currentTimeMillis
        const state: StreamState = { attempts: [], tried: new Set(), last: undefined, fallback: false }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            const outcome = state.attempts.at(-1)?.outcome
            log.add({
              method: "streamText",
              scopes: request.scopes,
              at,
              outcome: outcome === "succeeded" ? "succeeded" : outcome === "interrupted" ? "interrupted" : "failed",
              attempts: state.attempts
            })
          })
        )
        return streamAttempt(streamOptions, request, state, 1)
      }))

    const model: LanguageModel.Service = {
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
          (s, answered) =>
            // `generateObject` hands its answer to the span transformer before it
            // decodes the object: recorded there, a refused object is charged
            // what the provider reported. The caller's own transformer still runs.
            Effect.flatMap(Effect.serviceOption(Telemetry.CurrentSpanTransformer), (theirs) =>
              Effect.provideService(s.generateObject(o), Telemetry.CurrentSpanTransformer, (options) => {
                answered(options.response)
                if (Option.isSome(theirs)) theirs.value(options)
              }))
        )) as LanguageModel.Service["generateObject"],
      streamText: ((o: LanguageModel.GenerateTextOptions<any>) =>
        streamText(o)) as unknown as LanguageModel.Service["streamText"]
    }
    return { model, log: { recent: log.recent } }
  })

/** The decision log: a ring of the last `size` entries. */
const makeLog = (size: number) => {
  const ring: Array<DecisionLog.Entry | undefined> = new Array(size)
  let next = 0
  return {
    add: (entry: Omit<DecisionLog.Entry, "id">) => {
      ring[next % size] = { id: next + 1, ...entry }
      next++
    },
    recent: (query: DecisionLog.Query = {}) =>
      Effect.sync(() => {
        const limit = query.limit ?? 100
        const out: Array<DecisionLog.Entry> = []
        for (let i = next - 1; i >= 0 && i >= next - size && out.length < limit; i--) {
          const entry = ring[i % size]!
          if (query.outcome !== undefined && entry.outcome !== query.outcome) continue
          if (query.model !== undefined && !entry.attempts.some((a) => a.model === query.model)) continue
          out.push(entry)
        }
        return out
      })
  }
}
