/**
 * JSON values: what payloads, state values and checkpoints are made of, so
 * that every store can persist them in a file, SQLite or Postgres alike.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | {
  readonly [key: string]: JsonValue
}

/**
 * @since 0.1.0
 * @category models
 */
export type JsonObject = { readonly [key: string]: JsonValue }

const MAX_DEPTH = 256

/**
 * Where a value stops being JSON: `undefined` when it is JSON, otherwise a
 * description with its path (`$.a[2].b: NaN is not a finite number`). Only
 * plain objects and arrays nest; a Date, Map or class instance is not JSON
 * (it would not survive a round trip).
 *
 * @since 0.1.0
 * @category validation
 */
export const findInvalid = (value: unknown, path = "$", depth = 0): string | undefined => {
  if (depth > MAX_DEPTH) return `${path}: nested deeper than ${MAX_DEPTH} levels`
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${path}: ${value} is not a finite number`
    case "object": {
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const invalid = findInvalid(value[i], `${path}[${i}]`, depth + 1)
          if (invalid !== undefined) return invalid
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        return `${path}: a ${(value as object).constructor?.name ?? "non-plain object"} is not a plain JSON object`
      }
      for (const key in value) {
        const invalid = findInvalid((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1)
        if (invalid !== undefined) return invalid
      }
      return undefined
    }
    default:
      return `${path}: a ${typeof value} is not JSON`
  }
}

/**
 * A JSON value: plain objects, arrays, strings, booleans, null and finite
 * numbers. Decoding checks the value in place and returns it as it is, not a
 * copy: a store that keeps a value must copy it (`structuredClone`), or the
 * caller's later mutations would change what was stored.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: Schema.Schema<JsonValue> = Schema.declare(
  (input: unknown): input is JsonValue => findInvalid(input) === undefined,
  {
    identifier: "JsonValue",
    message: (issue) => findInvalid(issue.actual) ?? "not a JSON value"
  }
)

/**
 * A JSON object (the shape of shared state values and contexts).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject: Schema.Schema<JsonObject> = Schema.declare(
  (input: unknown): input is JsonObject =>
    typeof input === "object" && input !== null && !Array.isArray(input) && findInvalid(input) === undefined,
  {
    identifier: "JsonObject",
    message: (issue) =>
      typeof issue.actual !== "object" || issue.actual === null || Array.isArray(issue.actual)
        ? "expected a JSON object"
        : findInvalid(issue.actual) ?? "not a JSON object"
  }
)

/**
 * The size in bytes of a value's JSON text in UTF-8.
 *
 * @since 0.1.0
 * @category getters
 */
export const byteLength = (value: JsonValue): number => utf8Length(JSON.stringify(value))

/**
 * The UTF-8 length of a string, without allocating.
 *
 * @since 0.1.0
 * @category getters
 */
export const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}
