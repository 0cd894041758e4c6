/**
 * The one shape of every package's `StoreError`: the store operation that
 * failed and the backend's own error kept as the cause (a `SqlError`, a
 * `PlatformError`, an undecodable row…), never flattened into a string.
 *
 * ```ts
 * export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
 *   override get message() {
 *     return StoreFailure.message("dlq", this)
 *   }
 * }
 * // …
 * statement.pipe(Sql.mapError((cause) => new StoreError({ operation: "add", cause })))
 * ```
 *
 * `cause` is a `Schema.Defect`: it serialises (an `Error` as its name,
 * message and stack), so a `StoreError` crosses HTTP and files like every
 * other error.
 *
 * @since 0.2.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The fields of a package's `StoreError`.
 *
 * @since 0.2.0
 */
export const fields = {
  /** The store operation that failed: `"add"`, `"claim"`, `"open"`, `"migrate"`… */
  operation: Schema.String,
  /** The backend's error, kept whole. */
  cause: Schema.Defect
}

/**
 * A one-line description of a store failure's cause: its message, with the
 * driver's error code when it has one, and the driver's own message when it
 * wraps one (as `SqlError` does).
 *
 * @since 0.2.0
 */
export const describeCause = (cause: unknown): string => {
  if (typeof cause === "string") return cause
  if (!Predicate.isObject(cause)) return String(cause)
  const parts: Array<string> = []
  if (Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message !== "") {
    parts.push(cause.message)
  } else if (Predicate.hasProperty(cause, "_tag") && typeof cause._tag === "string") {
    parts.push(cause._tag)
  }
  const inner = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
  if (Predicate.isObject(inner)) {
    if (Predicate.hasProperty(inner, "code") && typeof inner.code === "string") parts.push(`[${inner.code}]`)
    if (
      Predicate.hasProperty(inner, "message") && typeof inner.message === "string" && inner.message !== "" &&
      !parts.includes(inner.message)
    ) {
      parts.push(inner.message)
    }
  } else if (Predicate.hasProperty(cause, "code") && typeof cause.code === "string") {
    parts.push(`[${cause.code}]`)
  }
  return parts.length === 0 ? String(cause) : parts.join(" ")
}

/**
 * The message of a package's `StoreError`: `"<package> store: <operation>
 * failed: <cause>"`.
 *
 * @since 0.2.0
 */
export const message = (
  packageName: string,
  error: { readonly operation: string; readonly cause: unknown }
): string => `${packageName} store: ${error.operation} failed: ${describeCause(error.cause)}`
