/**
 * A failure in a form that survives serialisation: its tag, message and
 * stack. Dead letters, failed workflows and task outcomes carry one.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { storableText } from "./Json.js"

/**
 * @since 0.1.0
 * @category schemas
 */
export const FailureInfo = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  stack: Schema.optional(Schema.String),
  interrupted: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "FailureInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export type FailureInfo = typeof FailureInfo.Type

const MAX_STACK = 8_192

/**
 * Describes any thrown or failed value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnknown = (error: unknown): FailureInfo => storable(describe(error))

const describe = (error: unknown): FailureInfo => {
  if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") {
    const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== ""
      ? error.message
      : safeJson(error)
    return withStack({ tag: error._tag, message }, error)
  }
  if (error instanceof Error) {
    return withStack({ tag: error.name, message: error.message }, error)
  }
  return { tag: "Unknown", message: typeof error === "string" ? error : safeJson(error) }
}

/**
 * Describes a `Cause`: its first failure, else its first defect, else an
 * interruption.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (cause: Cause.Cause<unknown>): FailureInfo => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return fromUnknown(failure.value)
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") return fromUnknown(defect.value)
  if (Cause.isInterruptedOnly(cause)) {
    return { tag: "Interrupted", message: "the fiber was interrupted", interrupted: true }
  }
  return storable({ tag: "Unknown", message: Cause.pretty(cause) })
}

/**
 * The same failure with its texts storable by every backend: a NUL
 * character or a lone surrogate in its tag, message or stack (Postgres
 * cannot store them; a stack cut at its length limit can split a surrogate
 * pair) is written as a visible escape (`Json.storableText`). `fromUnknown`
 * and `fromCause` already do this; stores apply it to a failure they are
 * given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const storable = (info: FailureInfo): FailureInfo => {
  const tag = storableText(info.tag)
  const message = storableText(info.message)
  const stack = info.stack === undefined ? undefined : storableText(info.stack)
  return tag === info.tag && message === info.message && stack === info.stack
    ? info
    : { ...info, tag, message, ...(stack === undefined ? {} : { stack }) }
}

const withStack = (info: FailureInfo, error: unknown): FailureInfo =>
  Predicate.hasProperty(error, "stack") && typeof error.stack === "string"
    ? { ...info, stack: error.stack.slice(0, MAX_STACK) }
    : info

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
