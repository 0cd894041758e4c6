// The options of the queue's layers: their defaults, and their validation
// (InvalidOptions when the layer is built, before anything is opened). The
// checks of a duration or a count are shared with the call inputs that take
// one (`purge`'s ages, `replayMany`'s limit), which report them as
// InvalidInput.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as DeadLetterQueue from "../DeadLetterQueue.js"
import { InvalidOptions } from "../Errors.js"
import type { Redact } from "../Redaction.js"

/** SQS's limit. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 262_144
export const DEFAULT_CLAIM_TIMEOUT: Duration.DurationInput = "5 minutes"
export const DEFAULT_ALERT_BUFFER = 1024
/** The page size of `list` when the filter names none. */
export const DEFAULT_PAGE = 50

/** A layer's options with their defaults filled in. */
export interface Resolved {
  readonly maxPayloadBytes: number
  readonly maxLetters: number | undefined
  readonly claimMillis: number
  readonly redact: Redact | undefined
  readonly alertBuffer: number
}

/**
 * A duration given by a caller, in milliseconds, or why it is not one: a
 * value that does not decode, a negative or a NaN is refused (Duration.decode
 * would clamp it to 0 or throw). Infinity is a duration.
 */
export const durationMillis = (name: string, input: unknown): Either.Either<number, string> => {
  const bad = Either.left(`${name} must be a non-negative duration, got ${String(input)}`)
  if (typeof input === "number" && !(input >= 0)) return bad
  if (typeof input === "string" && input.trim().startsWith("-")) return bad
  return Option.match(Duration.decodeUnknown(input), {
    onNone: () => bad,
    onSome: (duration) => Either.right(Duration.toMillis(duration))
  })
}

/** Why an optional count is not a positive integer, or undefined. */
export const positiveIntProblem = (name: string, value: unknown): string | undefined =>
  value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value > 0)
    ? undefined
    : `${name} must be a positive integer, got ${String(value)}`

const claimProblem = (input: unknown): Either.Either<number, string> =>
  Either.flatMap(
    durationMillis("claimTimeout", input),
    (millis) =>
      millis > 0 && Number.isFinite(millis)
        ? Either.right(millis)
        : Either.left(`claimTimeout must be a positive, finite duration, got ${String(input)}`)
  )

/**
 * Checks a layer's options and fills in the defaults. A bad option is an
 * InvalidOptions naming it, never a silent default.
 */
export const resolve = (options: DeadLetterQueue.Options): Effect.Effect<Resolved, InvalidOptions> =>
  Effect.suspend(() => {
    const fail = (message: string) => Effect.fail(new InvalidOptions({ message }))
    if (typeof options !== "object" || options === null) return fail("the options must be an object")
    const problem = positiveIntProblem("maxPayloadBytes", options.maxPayloadBytes) ??
      positiveIntProblem("maxLetters", options.maxLetters) ??
      positiveIntProblem("alertBuffer", options.alertBuffer) ??
      (options.redact === undefined || typeof options.redact === "function" ? undefined : "redact must be a function")
    if (problem !== undefined) return fail(problem)
    const claim = claimProblem(options.claimTimeout ?? DEFAULT_CLAIM_TIMEOUT)
    if (Either.isLeft(claim)) return fail(claim.left)
    return Effect.succeed({
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      maxLetters: options.maxLetters,
      // Whole milliseconds, as claims are stored.
      claimMillis: Math.ceil(claim.right),
      redact: options.redact,
      alertBuffer: options.alertBuffer ?? DEFAULT_ALERT_BUFFER
    })
  })

/** The file layer's directory: a non-empty string. */
export const directory = (value: unknown): Effect.Effect<string, InvalidOptions> =>
  typeof value === "string" && value.length > 0
    ? Effect.succeed(value)
    : Effect.fail(new InvalidOptions({ message: `directory must be a non-empty path, got ${String(value)}` }))
