/**
 * The engine's per-step JSON check: core's `Json.findInvalid` builds a path
 * string for every key it visits, even when the value is valid (the common
 * case, once per step). `findInvalid` here walks the value without
 * allocating and calls core's only when it finds something wrong or nests
 * deeper than `SHALLOW` levels, so its answer is always core's.
 */
import * as Json from "@agentos/core/Json"

// Well under core's nesting limit: past it, core's walk decides.
const SHALLOW = 32

// A string or key holding text Postgres cannot store is left to core's
// walk (core's `textIssue` decides), so the quick walk never accepts what
// core refuses.
const isPlainText = (text: string): boolean => Json.textIssue(text) === undefined

const isPlainJson = (value: unknown, depth: number): boolean => {
  switch (typeof value) {
    case "string":
      return isPlainText(value)
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (depth >= SHALLOW) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!isPlainJson(value[i], depth + 1)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) {
        if (!isPlainText(key) || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/** @internal What is not JSON in `value` (core's message), or undefined. */
export const findInvalid = (value: unknown): string | undefined =>
  isPlainJson(value, 0) ? undefined : Json.findInvalid(value)
