// The options of the budget's layers: their defaults and their validation
// (InvalidOptions when the layer is built, before anything is opened).
import * as Period from "@agentos/core/Period"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { InvalidOptions } from "../Errors.js"
import type * as TokenBudget from "../TokenBudget.js"

/** The default idle time after which an agent may be stolen from. */
export const DEFAULT_IDLE_AFTER: Duration.DurationInput = "1 minute"
/** The default fraction of what an idle donor has left that it gives in one steal (the article's half). */
export const DEFAULT_DONOR_SHARE = 0.5
/** The default timeout of a reservation. */
export const DEFAULT_RESERVATION_TIMEOUT: Duration.DurationInput = "5 minutes"
/** The default use fractions that raise an alert. */
export const DEFAULT_ALERT_THRESHOLDS: ReadonlyArray<number> = [0.8, 1]
/** The default time a settled reservation is remembered (for idempotent settlement). */
export const DEFAULT_SETTLEMENT_RETENTION: Duration.DurationInput = "1 hour"
/** The default number of transfers the dashboard shows. */
export const DEFAULT_TRANSFER_LIMIT = 100

export interface Config {
  readonly team: string
  readonly total: number
  readonly period: Period.Period | undefined
  readonly idleAfterMillis: number
  readonly donorShare: number
  readonly reservationTimeoutMillis: number
  readonly settlementRetentionMillis: number
  readonly alertThresholds: ReadonlyArray<number>
  readonly transferLimit: number
}

/**
 * The longest duration accepted, in milliseconds (≈142,000 years): a time
 * plus it stays a safe integer, so an expiry is exact in memory and fits the
 * SQL stores' bigint columns.
 */
export const MAX_MILLIS = 2 ** 52

/** A positive, finite duration in whole milliseconds (rounded up), or what is wrong with it. */
export const millis = (name: string, input: unknown): number | string => {
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None") return `${name} is not a duration`
  const ms = Duration.toMillis(decoded.value)
  if (!Number.isFinite(ms) || ms <= 0) return `${name} must be a positive, finite duration`
  if (ms > MAX_MILLIS) return `${name} must be at most ${MAX_MILLIS} milliseconds`
  return Math.ceil(ms)
}

/** Validates options and fills in defaults. */
export const validate = (options: TokenBudget.Options): Either.Either<Config, InvalidOptions> => {
  const invalid = (message: string) => Either.left(new InvalidOptions({ message }))
  if (options === null || typeof options !== "object") return invalid("the options must be an object")
  const team = options.team ?? "default"
  if (typeof team !== "string" || team.trim() === "" || team.length > 256) {
    return invalid("team must be a non-empty string of at most 256 characters")
  }
  if (!Number.isSafeInteger(options.total) || options.total < 0) {
    return invalid(`total must be a non-negative safe integer of tokens, got ${String(options.total)}`)
  }
  let period: Period.Period | undefined
  if (options.period !== undefined) {
    const decoded = Schema.decodeUnknownEither(Period.Period)(options.period)
    if (Either.isLeft(decoded)) return invalid(`period is not valid: ${decoded.left.message}`)
    period = decoded.right
  }
  const idleAfterMillis = millis("idleAfter", options.idleAfter ?? DEFAULT_IDLE_AFTER)
  if (typeof idleAfterMillis === "string") return invalid(idleAfterMillis)
  const reservationTimeoutMillis = millis(
    "reservationTimeout",
    options.reservationTimeout ?? DEFAULT_RESERVATION_TIMEOUT
  )
  if (typeof reservationTimeoutMillis === "string") return invalid(reservationTimeoutMillis)
  const settlementRetentionMillis = millis(
    "settlementRetention",
    options.settlementRetention ?? DEFAULT_SETTLEMENT_RETENTION
  )
  if (typeof settlementRetentionMillis === "string") return invalid(settlementRetentionMillis)
  const donorShare = options.donorShare ?? DEFAULT_DONOR_SHARE
  if (typeof donorShare !== "number" || !(donorShare >= 0 && donorShare <= 1)) {
    return invalid(`donorShare must be a number from 0 to 1, got ${String(donorShare)}`)
  }
  const alertThresholds = options.alertThresholds ?? DEFAULT_ALERT_THRESHOLDS
  if (!Array.isArray(alertThresholds) || !alertThresholds.every((t) => typeof t === "number" && t > 0 && t <= 1)) {
    return invalid("alertThresholds must be an array of fractions above 0 and at most 1")
  }
  const transferLimit = options.transferLimit ?? DEFAULT_TRANSFER_LIMIT
  if (!Number.isSafeInteger(transferLimit) || transferLimit < 0) {
    return invalid("transferLimit must be a non-negative integer")
  }
  return Either.right({
    team,
    total: options.total,
    period,
    idleAfterMillis,
    donorShare,
    reservationTimeoutMillis,
    settlementRetentionMillis,
    alertThresholds: [...alertThresholds].sort((a, b) => a - b),
    transferLimit
  })
}
