/**
 * JSON values: what payloads, state values and checkpoints are made of, so
 * that every store can persist them in a file, SQLite or Postgres alike.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
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

// Postgres stores neither a NUL character (text and jsonb refuse U+0000) nor
// a lone surrogate (it is not UTF-8); memory and SQLite would keep both. So
// they are refused on every backend, which then all store the same values.
// eslint-disable-next-line no-control-regex -- U+0000 is what is looked for
const suspectText = /[\u0000\ud800-\udfff]/

/**
 * The code units at `i`: 1 for an ordinary one, 2 for a surrogate pair, 0
 * for a NUL character or a lone surrogate.
 */
const unitAt = (text: string, i: number): 0 | 1 | 2 => {
  const code = text.charCodeAt(i)
  if (code === 0) return 0
  if (code < 0xd800 || code > 0xdfff) return 1
  const next = text.charCodeAt(i + 1)
  return code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 0
}

const codeName = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, "0")}`

/**
 * What keeps a string from being stored alike by every backend: a NUL
 * character (U+0000) or a lone surrogate — `undefined` for any other
 * string. Cheap for ordinary text (one regular-expression test).
 *
 * @since 0.1.0
 * @category validation
 */
export const textIssue = (text: string): string | undefined => {
  if (!suspectText.test(text)) return undefined
  for (let i = 0; i < text.length;) {
    const units = unitAt(text, i)
    if (units === 0) {
      const code = text.charCodeAt(i)
      return code === 0 ? "a NUL character (U+0000)" : `a lone surrogate (${codeName(code)})`
    }
    i += units
  }
  return undefined
}

const cannotStore = (what: string, issue: string) => `${what} holds ${issue}, which Postgres cannot store`

/**
 * Why `what` (named in the message, e.g. "the key") cannot be stored alike
 * by every backend (`textIssue`), or `undefined`.
 *
 * @since 0.1.0
 * @category validation
 */
export const textProblem = (what: string, text: string): string | undefined => {
  const issue = textIssue(text)
  return issue === undefined ? undefined : cannotStore(what, issue)
}

/**
 * A string every backend stores alike: no NUL character and no lone
 * surrogate (`textIssue`). For names and ids that are stored as they are.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StorableString: Schema.filter<typeof Schema.String> = Schema.String.pipe(
  Schema.filter((text) => textProblem("the string", text))
)

/**
 * Writes a NUL character or a lone surrogate of `text` as the visible escape
 * `\u0000` / `\uD83D` (six characters), so that a free text — an error
 * message, a stack — can be stored by every backend without losing what it
 * said. Any other string is returned as it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const storableText = (text: string): string => {
  if (textIssue(text) === undefined) return text
  let out = ""
  for (let i = 0; i < text.length;) {
    const units = unitAt(text, i)
    out += units === 0 ? `\\u${codeName(text.charCodeAt(i)).slice(2)}` : text.slice(i, i + units)
    i += units === 0 ? 1 : units
  }
  return out
}

/**
 * Where a value stops being JSON that every store keeps alike: `undefined`
 * when it is, otherwise a description with its path (`$.a[2].b: NaN is not
 * a finite number`). Only plain objects and arrays nest; a Date, Map or
 * class instance is not JSON (it would not survive a round trip); a string
 * or key holding a NUL character or a lone surrogate is refused too
 * (`textIssue`: Postgres cannot store it).
 *
 * @since 0.1.0
 * @category validation
 */
export const findInvalid = (value: unknown, path = "$", depth = 0): string | undefined =>
  isJsonAt(value, depth) ? undefined : describeInvalid(value, path, depth)

/**
 * Whether a value is JSON by the rules of `findInvalid`, in one walk that
 * allocates nothing (`findInvalid` builds a path for every value it visits
 * only once this walk has found something wrong).
 *
 * @since 0.2.0
 * @category validation
 */
export const isJson = (value: unknown): value is JsonValue => isJsonAt(value, 0)

const isJsonAt = (value: unknown, depth: number): boolean => {
  if (depth > MAX_DEPTH) return false
  switch (typeof value) {
    case "string":
      return textIssue(value) === undefined
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!isJsonAt(value[i], depth + 1)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) {
        if (textIssue(key) !== undefined || !isJsonAt((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

class NotJson {
  readonly _tag = "NotJson"
}

const NOT_JSON = new NotJson()

const copyAt = (value: unknown, depth: number): JsonValue => {
  if (depth > MAX_DEPTH) throw NOT_JSON
  switch (typeof value) {
    case "string":
      if (textIssue(value) !== undefined) throw NOT_JSON
      return value
    case "boolean":
      return value
    case "number":
      if (!Number.isFinite(value)) throw NOT_JSON
      return value === 0 ? 0 : value
    case "object": {
      if (value === null) return null
      if (Array.isArray(value)) {
        const out: Array<JsonValue> = new Array(value.length)
        for (let i = 0; i < value.length; i++) out[i] = copyAt(value[i], depth + 1)
        return Object.freeze(out)
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw NOT_JSON
      const out: Record<string, JsonValue> = {}
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue
        if (textIssue(key) !== undefined) throw NOT_JSON
        const item = copyAt((value as Record<string, unknown>)[key], depth + 1)
        if (key === "__proto__") {
          Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true })
        } else {
          out[key] = item
        }
      }
      return Object.freeze(out)
    }
    default:
      throw NOT_JSON
  }
}

/**
 * A deep, frozen copy of a JSON value, made in the same walk that checks it
 * (the rules of `findInvalid`), or `findInvalid`'s description of what is
 * wrong. `-0` is copied as `0`, as JSON text would store it, so a value kept
 * in memory equals the value a SQL store reads back.
 *
 * @since 0.2.0
 * @category validation
 */
export const frozenCopy = (value: unknown): Either.Either<JsonValue, string> => {
  try {
    return Either.right(copyAt(value, 0))
  } catch (error) {
    if (error === NOT_JSON) return Either.left(describeInvalid(value, "$", 0) ?? "not a JSON value")
    throw error
  }
}

const describeInvalid = (value: unknown, path: string, depth: number): string | undefined => {
  if (depth > MAX_DEPTH) return `${path}: nested deeper than ${MAX_DEPTH} levels`
  switch (typeof value) {
    case "string": {
      const issue = textIssue(value)
      return issue === undefined ? undefined : cannotStore(`${path}: the string`, issue)
    }
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${path}: ${value} is not a finite number`
    case "object": {
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const invalid = describeInvalid(value[i], `${path}[${i}]`, depth + 1)
          if (invalid !== undefined) return invalid
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        return `${path}: a ${(value as object).constructor?.name ?? "non-plain object"} is not a plain JSON object`
      }
      for (const key in value) {
        const issue = textIssue(key)
        if (issue !== undefined) return cannotStore(`${path}: the key ${JSON.stringify(key)}`, issue)
        const invalid = describeInvalid((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1)
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
    description: "any JSON value: null, a boolean, a finite number, a string, an array or an object",
    // Not recursive: a `$ref` to itself would depend on where the generator puts its definitions.
    jsonSchema: {
      anyOf: [
        { type: "null" },
        { type: "boolean" },
        { type: "number" },
        { type: "string" },
        { type: "array" },
        { type: "object" }
      ]
    },
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
    description: "a JSON object: string keys, any JSON value for each",
    jsonSchema: { type: "object" },
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
