import * as Json from "@agentos/core/Json"

class Invalid {
  constructor(readonly reason: string) {}
}

const MAX_DEPTH = 256

const copy = (value: unknown, depth: number): Json.JsonValue => {
  // Any value past the limit, a scalar included, as core's `findInvalid`
  // (the SQL stores' check) counts depth: else memory kept values they refuse.
  if (depth > MAX_DEPTH) throw new Invalid("")
  switch (typeof value) {
    case "string":
      // No NUL character or lone surrogate (Postgres cannot store them): as core's check.
      if (Json.textIssue(value) !== undefined) throw new Invalid("")
      return value
    case "boolean":
      return value
    case "number":
      // -0 is stored as 0, as JSON (and so the SQL stores) would: JSON.stringify(-0) is "0".
      if (Number.isFinite(value)) return value === 0 ? 0 : value
      throw new Invalid("")
    case "object": {
      if (value === null) return null
      if (Array.isArray(value)) {
        const out: Array<Json.JsonValue> = new Array(value.length)
        for (let i = 0; i < value.length; i++) out[i] = copy(value[i], depth + 1)
        return Object.freeze(out)
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new Invalid("")
      const out: Record<string, Json.JsonValue> = {}
      // `for…in` over the own keys (the prototype is checked above) visits the
      // same keys in the same order as `Object.keys`, without allocating their array.
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue
        if (Json.textIssue(key) !== undefined) throw new Invalid("")
        const item = copy((value as Record<string, unknown>)[key], depth + 1)
        if (key === "__proto__") {
          Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true })
        } else {
          out[key] = item
        }
      }
      return Object.freeze(out)
    }
    default:
      throw new Invalid("")
  }
}

/**
 * A deep, frozen copy of a JSON object, or the reason it is not one (with
 * the path of the offending value). One walk validates and copies.
 *
 * @internal
 */
export const freezeCopy = (value: unknown): Json.JsonObject | string => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "expected a JSON object"
  try {
    return copy(value, 0) as Json.JsonObject
  } catch (error) {
    if (error instanceof Invalid) return Json.findInvalid(value) ?? "not a JSON object"
    if (error instanceof RangeError) return "nested too deeply"
    throw error
  }
}

/**
 * The reason a value is not a JSON object, or undefined.
 *
 * @internal
 */
export const invalidObject = (value: unknown): string | undefined =>
  typeof value !== "object" || value === null || Array.isArray(value)
    ? "expected a JSON object"
    : Json.findInvalid(value)
