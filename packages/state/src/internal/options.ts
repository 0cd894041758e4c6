// The options of the store's layers: their defaults, their validation
// (InvalidOptions when the layer is built, before anything is opened) and the
// per-prefix rules compiled from them.
import type { JsonObject } from "@agentos/core/Json"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Strategy } from "../Entry.js"
import { InvalidOptions } from "../Errors.js"
import type * as Merge from "../Merge.js"
import type * as SharedState from "../SharedState.js"

/** The default history kept per key. */
const DEFAULT_HISTORY_LIMIT = 20
/** The default number of `update` attempts in flight per key in one store instance. */
const DEFAULT_UPDATE_CONCURRENCY = 2
/** The default interval of the SQL change feed's poll. */
const DEFAULT_POLL_INTERVAL: Duration.DurationInput = "50 millis"

/**
 * The default retry schedule of `update`: jittered exponential backoff from
 * 1 ms (×1.5), each delay capped at 100 ms, at most 100 retries.
 */
export const defaultUpdateSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("100 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(100))
)

/** The rules of one key: its strategy, its merge and its schema check. */
export interface Rules {
  readonly strategy: Strategy
  readonly merge: Merge.Merger
  /** A description of why a value does not decode, or undefined. */
  readonly check: ((value: JsonObject) => string | undefined) | undefined
}

/** A store's options with their defaults filled in and its prefixes compiled. */
export interface Config {
  readonly historyLimit: number
  readonly updateConcurrency: number
  /** The rules of a key (its longest configured prefix, else the store's). */
  readonly rules: (key: string) => Rules
}

export const STRATEGIES: ReadonlyArray<Strategy> = ["reject", "first-write-wins", "last-write-wins", "merge"]

const ARRAY_MODES: ReadonlyArray<unknown> = ["replace", "concat", "union"]

class Invalid {
  constructor(readonly message: string) {}
}

const checkStrategy = (strategy: unknown, where: string): void => {
  if (strategy !== undefined && !STRATEGIES.includes(strategy as Strategy)) {
    throw new Invalid(`unknown strategy ${JSON.stringify(strategy)} in ${where}`)
  }
}

const checkMerger = (merger: unknown, where: string): void => {
  if (merger === undefined || typeof merger === "function") return
  const options = merger as { precedence?: unknown; arrays?: unknown }
  if (
    typeof merger !== "object" || merger === null ||
    (options.precedence !== undefined && options.precedence !== "current" && options.precedence !== "incoming") ||
    (options.arrays !== undefined && !ARRAY_MODES.includes(options.arrays))
  ) {
    throw new Invalid(`invalid merge in ${where}: ${JSON.stringify(merger)}`)
  }
}

const compile = (options: SharedState.StoreOptions): Config => {
  if (typeof options !== "object" || options === null) throw new Invalid("the options must be an object")
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1 || historyLimit > 100_000) {
    throw new Invalid(`historyLimit must be an integer from 1 to 100000, got ${String(historyLimit)}`)
  }
  const updateConcurrency = options.updateConcurrency ?? DEFAULT_UPDATE_CONCURRENCY
  if (!Number.isSafeInteger(updateConcurrency) || updateConcurrency < 1) {
    throw new Invalid(`updateConcurrency must be an integer >= 1, got ${String(updateConcurrency)}`)
  }
  checkStrategy(options.strategy, "options.strategy")
  checkMerger(options.merge, "options.merge")
  if (options.prefixes !== undefined && !Array.isArray(options.prefixes)) {
    throw new Invalid("prefixes must be an array")
  }
  const seen = new Set<string>()
  for (const p of options.prefixes ?? []) {
    if (typeof p !== "object" || p === null || typeof p.prefix !== "string") {
      throw new Invalid(`a prefix must be a string, got ${JSON.stringify(p?.prefix)}`)
    }
    if (seen.has(p.prefix)) throw new Invalid(`prefix "${p.prefix}" is configured twice`)
    seen.add(p.prefix)
  }
  const base: Rules = { strategy: options.strategy ?? "reject", merge: options.merge ?? {}, check: undefined }
  const prefixes = [...(options.prefixes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length)
  const compiled = prefixes.map((p): readonly [string, Rules] => {
    checkStrategy(p.strategy, `prefix "${p.prefix}"`)
    checkMerger(p.merge, `prefix "${p.prefix}"`)
    if (p.schema !== undefined && !Schema.isSchema(p.schema)) {
      throw new Invalid(`the schema of prefix "${p.prefix}" is not a Schema`)
    }
    let check: Rules["check"] = undefined
    if (p.schema !== undefined) {
      const decode = Schema.decodeUnknownEither(p.schema)
      check = (value) => {
        const result = decode(value)
        return Either.isLeft(result) ? ParseResult.TreeFormatter.formatErrorSync(result.left) : undefined
      }
    }
    return [p.prefix, { strategy: p.strategy ?? base.strategy, merge: p.merge ?? base.merge, check }]
  })
  return {
    historyLimit,
    updateConcurrency,
    rules: compiled.length === 0 ? () => base : (key) => {
      for (const [prefix, rules] of compiled) if (key.startsWith(prefix)) return rules
      return base
    }
  }
}

/** A store's options, checked and compiled; InvalidOptions when they are not valid. */
export const make = (options: SharedState.StoreOptions = {}): Effect.Effect<Config, InvalidOptions> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(compile(options))
    } catch (error) {
      if (error instanceof Invalid) return Effect.fail(new InvalidOptions({ message: `SharedState: ${error.message}` }))
      throw error
    }
  })

/** The SQL store's poll interval in milliseconds; InvalidOptions unless a finite positive duration. */
export const pollMillis = (options: SharedState.SqlStoreOptions): Effect.Effect<number, InvalidOptions> =>
  Option.match(
    Option.filter(
      Duration.decodeUnknown(options.pollInterval ?? DEFAULT_POLL_INTERVAL),
      (d) => Duration.greaterThan(d, Duration.zero) && Duration.isFinite(d)
    ),
    {
      onNone: () =>
        Effect.fail(
          new InvalidOptions({
            message: `SharedState.layerSql: pollInterval must be a finite positive duration, got ${
              String(options.pollInterval)
            }`
          })
        ),
      onSome: (d) => Effect.succeed(Duration.toMillis(d))
    }
  )
