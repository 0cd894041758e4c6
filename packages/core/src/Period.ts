/**
 * Calendar periods for budgets: a day or a month, in UTC or a configured
 * IANA time zone, read from Effect's `Clock`. A period has a key (the same
 * in every process, `"2026-12"` or `"2026-12-06"`), a start and an end
 * (epoch milliseconds, the end exclusive): spend recorded under one key
 * resets when the clock passes the end.
 *
 * Months are calendar months (28 to 31 days), days are calendar days (23 to
 * 25 hours across a daylight-saving change in a zone that has one).
 *
 * @since 0.3.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * @since 0.3.0
 * @category schemas
 */
export const Unit = Schema.Literal("day", "month").annotations({ identifier: "PeriodUnit" })

/**
 * @since 0.3.0
 * @category models
 */
export type Unit = typeof Unit.Type

const validZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/**
 * An IANA time zone name (`"UTC"`, `"Europe/Paris"`), validated.
 *
 * @since 0.3.0
 * @category schemas
 */
export const TimeZone = Schema.String.pipe(
  Schema.filter((zone) => validZone(zone) ? undefined : `"${zone}" is not a time zone this runtime knows`)
).annotations({ identifier: "TimeZone" })

/**
 * A period: its unit, and the time zone its days and months are counted in
 * (UTC when omitted).
 *
 * @since 0.3.0
 * @category schemas
 */
export const Period = Schema.Struct({
  unit: Unit,
  timeZone: Schema.optional(TimeZone)
}).annotations({ identifier: "Period" })

/**
 * @since 0.3.0
 * @category models
 */
export type Period = typeof Period.Type

/**
 * One occurrence of a period: `start <= t < end`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Window {
  /** `"2026-12-06"` for a day, `"2026-12"` for a month (in the period's zone). */
  readonly key: string
  readonly start: number
  readonly end: number
}

interface Fields {
  readonly year: number
  readonly month: number
  readonly day: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

const formatter = (zone: string): Intl.DateTimeFormat => {
  let f = formatters.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric"
    })
    formatters.set(zone, f)
  }
  return f
}

/** The zone's offset from UTC at instant `t`, in milliseconds (local − UTC). */
const offsetAt = (zone: string, t: number): number => {
  const parts: Record<string, number> = {}
  for (const part of formatter(zone).formatToParts(new Date(t))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value)
  }
  const local = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!)
  return local - Math.floor(t / 1000) * 1000
}

const localFields = (zone: string | undefined, t: number): Fields => {
  const shifted = zone === undefined || zone === "UTC" ? t : t + offsetAt(zone, t)
  const date = new Date(shifted)
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() }
}

/** The instant of local midnight at the start of `utcMidnight`'s date in `zone`. */
const localMidnight = (zone: string | undefined, utcMidnight: number): number => {
  if (zone === undefined || zone === "UTC") return utcMidnight
  const guess = utcMidnight - offsetAt(zone, utcMidnight)
  return utcMidnight - offsetAt(zone, guess)
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * The window of `period` that contains the instant `now` (epoch
 * milliseconds).
 *
 * @since 0.3.0
 * @category windows
 */
export const windowAt = (period: Period, now: number): Window => {
  const zone = period.timeZone
  const { day, month, year } = localFields(zone, now)
  if (period.unit === "day") {
    return {
      key: `${pad(year, 4)}-${pad(month)}-${pad(day)}`,
      start: localMidnight(zone, Date.UTC(year, month - 1, day)),
      end: localMidnight(zone, Date.UTC(year, month - 1, day + 1))
    }
  }
  return {
    key: `${pad(year, 4)}-${pad(month)}`,
    start: localMidnight(zone, Date.UTC(year, month - 1, 1)),
    end: localMidnight(zone, Date.UTC(year, month, 1))
  }
}

/**
 * The current window of `period`, by `Clock`.
 *
 * @since 0.3.0
 * @category windows
 */
export const current = (period: Period): Effect.Effect<Window> =>
  Effect.map(Clock.currentTimeMillis, (now) => windowAt(period, now))

/**
 * Milliseconds from `now` until the window resets (0 once it has ended): a
 * retry-after for whoever found a period's budget exhausted.
 *
 * @since 0.3.0
 * @category windows
 */
export const untilReset = (window: Window, now: number): number => Math.max(0, window.end - now)

/**
 * The window's length in milliseconds.
 *
 * @since 0.3.0
 * @category windows
 */
export const length = (window: Window): number => window.end - window.start
