/**
 * The spend ledger's options: their defaults and their validation
 * (`InvalidOptions` when the layer is built).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidOptions } from "../Errors.js"
import * as Spend from "../Spend.js"
import type * as SpendLedger from "../SpendLedger.js"

export interface Resolved {
  readonly budgets: ReadonlyArray<Spend.Budget>
  readonly reservationTtlMillis: number
  readonly alertPercents: ReadonlyArray<number>
  readonly sweepIntervalMillis: number
  readonly retentionMillis: number
  readonly maxConcurrentTransactions: number
}

const decodeBudgets = Schema.decodeUnknownEither(Schema.Array(Spend.Budget))

const millis = (name: string, input: Duration.DurationInput | undefined, fallback: number, allowZero: boolean) => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
    return Either.left(`${name} must be a finite duration`)
  }
  const ms = Math.ceil(Duration.toMillis(decoded.value))
  return ms > 0 || (allowZero && ms === 0) ? Either.right(ms) : Either.left(`${name} must be positive`)
}

export const resolve = (options: SpendLedger.Options): Effect.Effect<Resolved, InvalidOptions> =>
  Effect.suspend(() => {
    const fail = (message: string) => Effect.fail(new InvalidOptions({ message }))
    const budgets = decodeBudgets(options.budgets)
    if (Either.isLeft(budgets)) return fail(`budgets: ${ParseResult.TreeFormatter.formatErrorSync(budgets.left)}`)
    const seen = new Set<string>()
    for (const budget of budgets.right) {
      if (seen.has(budget.scope)) return fail(`budgets: the scope "${budget.scope}" has two budgets`)
      seen.add(budget.scope)
    }
    const ttl = millis("reservationTtl", options.reservationTtl, 10 * 60_000, false)
    if (Either.isLeft(ttl)) return fail(ttl.left)
    const sweep = millis("sweepInterval", options.sweepInterval, 60_000, true)
    if (Either.isLeft(sweep)) return fail(sweep.left)
    const retention = millis("retention", options.retention, 7 * 24 * 3_600_000, false)
    if (Either.isLeft(retention)) return fail(retention.left)
    const percents = options.alertPercents ?? [80, 100]
    if (!percents.every((p) => Number.isInteger(p) && p > 0 && p <= 1000)) {
      return fail("alertPercents must be integers from 1 to 1000")
    }
    const cap = options.maxConcurrentTransactions ?? 8
    if (!Number.isSafeInteger(cap) || cap < 1) return fail("maxConcurrentTransactions must be a positive integer")
    return Effect.succeed({
      maxConcurrentTransactions: cap,
      budgets: budgets.right,
      reservationTtlMillis: ttl.right,
      alertPercents: [...new Set(percents)].sort((a, b) => a - b),
      sweepIntervalMillis: sweep.right,
      retentionMillis: retention.right
    })
  })
