/**
 * Money as an integer count of micro-dollars (1 USD = 1,000,000 µ$).
 *
 * Floats never hold money in AgentOS: sums of floats drift, and a budget that
 * drifts either over-spends or refuses work it could afford. Every amount is
 * a safe integer; arithmetic that would leave the safe-integer range (about
 * nine billion dollars) is a defect, not a silently wrong number.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Order_ from "effect/Order"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * An amount of money in integer micro-dollars (may be negative for refunds
 * and deltas).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Money = Schema.Int.pipe(
  Schema.filter((n) => Number.isSafeInteger(n), { message: () => "money must be a safe integer of micro-dollars" }),
  Schema.brand("@agentos/MicroDollars")
).annotations({ identifier: "Money", description: "integer micro-dollars" })

/**
 * @since 0.1.0
 * @category models
 */
export type Money = typeof Money.Type

/**
 * A non-negative amount of money in integer micro-dollars (a limit, a price).
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeMoney = Money.pipe(
  Schema.filter((n) => n >= 0, { message: () => "money must not be negative" })
)

/**
 * One dollar, in micro-dollars.
 *
 * @since 0.1.0
 * @category constants
 */
export const MICROS_PER_DOLLAR = 1_000_000

/**
 * Zero micro-dollars.
 *
 * @since 0.1.0
 * @category constants
 */
export const zero: Money = 0 as Money

const checked = (n: number, what: string): Money => {
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`Money.${what}: result ${n} is not a safe integer of micro-dollars`)
  }
  return n as Money
}

/**
 * Makes money from a count of micro-dollars; throws a `RangeError` (a defect)
 * when the count is not a safe integer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const micros = (n: number): Money => checked(n, "micros")

/**
 * @since 0.1.0
 * @category arithmetic
 */
export const add = (a: Money, b: Money): Money => checked(a + b, "add")

/**
 * @since 0.1.0
 * @category arithmetic
 */
export const subtract = (a: Money, b: Money): Money => checked(a - b, "subtract")

/**
 * Multiplies by an integer factor (e.g. a count of calls).
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const multiply = (a: Money, factor: number): Money => {
  if (!Number.isSafeInteger(factor)) {
    throw new RangeError(`Money.multiply: factor ${factor} is not an integer`)
  }
  return checked(a * factor, "multiply")
}

/**
 * @since 0.1.0
 * @category arithmetic
 */
export const sum = (amounts: Iterable<Money>): Money => {
  let total = 0
  for (const amount of amounts) total += amount
  return checked(total, "sum")
}

/**
 * Splits an amount into `parts` integer shares that add up exactly to the
 * amount; the first `amount mod parts` shares get one micro-dollar more.
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const allocate = (amount: Money, parts: number): ReadonlyArray<Money> => {
  if (!Number.isSafeInteger(parts) || parts <= 0) {
    throw new RangeError(`Money.allocate: parts ${parts} must be a positive integer`)
  }
  const base = Math.floor(amount / parts)
  const remainder = amount - base * parts
  return Array.from({ length: parts }, (_, i) => (base + (i < remainder ? 1 : 0)) as Money)
}

/**
 * Ordering of amounts.
 *
 * @since 0.1.0
 * @category instances
 */
export const Order: Order_.Order<Money> = Order_.number

/**
 * @since 0.1.0
 * @category arithmetic
 */
export const min = Order_.min(Order)

/**
 * @since 0.1.0
 * @category arithmetic
 */
export const max = Order_.max(Order)

/**
 * The error of parsing a malformed amount of dollars.
 *
 * @since 0.1.0
 * @category errors
 */
export class MoneyParseError extends Data.TaggedError("MoneyParseError")<{
  readonly input: string
  readonly message: string
}> {}

const DOLLARS = /^(-)?\$?(\d{1,10})(?:\.(\d{1,6}))?$/

/**
 * Parses an amount of dollars such as `"12.5"`, `"$0.000125"` or `"-3"`
 * exactly. More than six decimal places is an error, never a silent rounding.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDollars = (input: string): Either.Either<Money, MoneyParseError> => {
  const match = DOLLARS.exec(input.trim().replace(/_/g, ""))
  if (match === null) {
    return Either.left(
      new MoneyParseError({
        input,
        message: `"${input}" is not an amount of dollars (expected e.g. "12.50" or "$0.000125", at most 6 decimals)`
      })
    )
  }
  const [, sign, whole, fraction = ""] = match
  const value = Number(whole) * MICROS_PER_DOLLAR + Number(fraction.padEnd(6, "0"))
  return Either.right(checked(sign === "-" ? -value : value, "parseDollars"))
}

/**
 * Formats an amount as dollars with at least two and at most six decimals:
 * `$1.50`, `$0.000125`, `-$3.00`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (amount: Money): string => {
  const negative = amount < 0
  const abs = Math.abs(amount)
  const whole = Math.floor(abs / MICROS_PER_DOLLAR)
  let fraction = String(abs % MICROS_PER_DOLLAR).padStart(6, "0")
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1)
  return `${negative ? "-" : ""}$${whole}.${fraction}`
}

/**
 * A schema that decodes a dollar string (`"12.50"`) into `Money` and encodes
 * back with `format`; use it for configuration and HTTP input.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromDollars: Schema.Schema<Money, string> = Schema.transformOrFail(Schema.String, Money, {
  strict: true,
  decode: (input, _, ast): Either.Either<number, ParseResult.ParseIssue> =>
    Either.match(parseDollars(input), {
      onLeft: (error) => ParseResult.fail(new ParseResult.Type(ast, input, error.message)),
      onRight: (money) => ParseResult.succeed(money)
    }),
  encode: (micros) => ParseResult.succeed(format(micros as Money))
}).annotations({ identifier: "Dollars" })
