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

// A NUL character or a surrogate. A string or key holding a NUL character or
// a lone surrogate is left to core's walk, which decides whether it is JSON
// every store keeps alike (Postgres stores neither): the quick walk must
// never accept what core refuses, whatever core's rule for text is.
// eslint-disable-next-line no-control-regex
const suspectText = /[\u0000\ud800-\udfff]/

const isPlainText = (text: string): boolean => {
  if (!suspectText.test(text)) return true
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0) return false
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1)
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false
      i++
    }
  }
  return true
}

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
