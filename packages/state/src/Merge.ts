/**
 * Merging two JSON objects, for the `merge` conflict strategy: the source
 * article's deep merge (the current value wins on scalar conflicts, the
 * incoming write adds missing keys), the same with incoming-wins precedence,
 * and arrays replaced, concatenated or unioned.
 *
 * @since 0.1.0
 */
import type { JsonObject, JsonValue } from "@agentos/core/Json"

/**
 * What happens when both sides hold an array under the same key: the winning
 * side's array is kept (`replace`), the current items then the incoming ones
 * (`concat`), or the current items then the incoming items not already there
 * (`union`, by JSON equality).
 *
 * @since 0.1.0
 * @category models
 */
export type ArrayMode = "replace" | "concat" | "union"

/**
 * Which side wins a conflict between two scalars (or a scalar and an object,
 * or two arrays under `replace`): the value already stored (`current`, the
 * article's rule) or the write that arrived late (`incoming`).
 *
 * @since 0.1.0
 * @category models
 */
export type Precedence = "current" | "incoming"

/**
 * Options of the built-in deep merge. Defaults: `precedence: "current"`,
 * `arrays: "replace"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MergeOptions {
  readonly precedence?: Precedence
  readonly arrays?: ArrayMode
}

/**
 * What a user-supplied merge function is told about the conflict.
 *
 * @since 0.1.0
 * @category models
 */
export interface MergeContext {
  readonly key: string
  /** The version the incoming write is merged into. */
  readonly currentVersion: number
  /** Who wrote the current version. */
  readonly currentModifiedBy: ReadonlyArray<string>
  /** Who sends the incoming write. */
  readonly agent: string
}

/**
 * A user-supplied merge: returns the value to store. Its result is checked
 * like any written value (a JSON object, and the key's schema if any).
 *
 * @since 0.1.0
 * @category models
 */
export type MergeFunction = (current: JsonObject, incoming: JsonObject, context: MergeContext) => JsonObject

/**
 * How a store merges: the built-in deep merge with options, or a function.
 *
 * @since 0.1.0
 * @category models
 */
export type Merger = MergeOptions | MergeFunction

const isObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const hasOwn = Object.prototype.hasOwnProperty

const define = (target: Record<string, JsonValue>, key: string, value: JsonValue): void => {
  // "__proto__" is a legitimate JSON key; plain assignment would set the prototype.
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/**
 * Deep equality of two JSON values (object key order does not matter).
 *
 * @since 0.1.0
 * @category equality
 */
export const jsonEquals = (a: JsonValue, b: JsonValue): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEquals(a[i]!, b[i]!)) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ao = a as JsonObject
  const bo = b as JsonObject
  const keys = Object.keys(ao)
  if (keys.length !== Object.keys(bo).length) return false
  for (const key of keys) {
    if (!hasOwn.call(bo, key) || !jsonEquals(ao[key]!, bo[key]!)) return false
  }
  return true
}

const union = (current: ReadonlyArray<JsonValue>, incoming: ReadonlyArray<JsonValue>): Array<JsonValue> => {
  const out = current.slice()
  for (const item of incoming) {
    let found = false
    for (const existing of out) {
      if (jsonEquals(existing, item)) {
        found = true
        break
      }
    }
    if (!found) out.push(item)
  }
  return out
}

const mergeValues = (
  current: JsonValue,
  incoming: JsonValue,
  incomingWins: boolean,
  arrays: ArrayMode
): JsonValue => {
  if (isObject(current) && isObject(incoming)) return mergeObjects(current, incoming, incomingWins, arrays)
  if (Array.isArray(current) && Array.isArray(incoming)) {
    switch (arrays) {
      case "concat":
        return (current as ReadonlyArray<JsonValue>).concat(incoming as ReadonlyArray<JsonValue>)
      case "union":
        return union(current as ReadonlyArray<JsonValue>, incoming as ReadonlyArray<JsonValue>)
      case "replace":
        return incomingWins ? incoming : current
    }
  }
  return incomingWins ? incoming : current
}

const mergeObjects = (
  current: JsonObject,
  incoming: JsonObject,
  incomingWins: boolean,
  arrays: ArrayMode
): JsonObject => {
  const result: Record<string, JsonValue> = {}
  for (const key of Object.keys(current)) define(result, key, current[key]!)
  for (const key of Object.keys(incoming)) {
    const value = incoming[key]!
    define(result, key, hasOwn.call(current, key) ? mergeValues(current[key]!, value, incomingWins, arrays) : value)
  }
  return result
}

/**
 * The built-in deep merge. Nested objects merge key by key; a key only one
 * side has is kept; on any other conflict the `precedence` side wins, except
 * two arrays, which follow `arrays`. Neither input is modified.
 *
 * @since 0.1.0
 * @category merging
 */
export const deepMerge = (current: JsonObject, incoming: JsonObject, options: MergeOptions = {}): JsonObject =>
  mergeObjects(current, incoming, options.precedence === "incoming", options.arrays ?? "replace")

/**
 * Applies a `Merger` (options of the deep merge, or a function).
 *
 * @since 0.1.0
 * @category merging
 */
export const apply = (merger: Merger, current: JsonObject, incoming: JsonObject, context: MergeContext): JsonObject =>
  typeof merger === "function" ? merger(current, incoming, context) : deepMerge(current, incoming, merger)
