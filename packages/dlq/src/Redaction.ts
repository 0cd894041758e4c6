/**
 * Redaction of payloads and contexts before a letter is persisted or
 * alerted: API keys and personal data never reach a file, a table or a
 * webhook. A queue takes any `Redact` function; `make` builds one that
 * blanks values by key name and masks patterns inside strings.
 *
 * @since 0.1.0
 */
import type { JsonValue } from "@agentos/core/Json"

/**
 * A redaction hook: gets a payload or a context and returns what may be
 * stored. It must return JSON (a context must stay an object); it should not
 * mutate its input.
 *
 * @since 0.1.0
 * @category models
 */
export type Redact = (value: JsonValue, field: "payload" | "context") => JsonValue

/**
 * The value that replaces a redacted one.
 *
 * @since 0.1.0
 * @category constants
 */
export const REDACTED = "[REDACTED]"

/**
 * Key names blanked by default (compared case-insensitively, ignoring `-`
 * and `_`): API keys, tokens, passwords, secrets, authorization headers,
 * cookies.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultKeys: ReadonlyArray<string> = [
  "apikey",
  "authorization",
  "token",
  "accesstoken",
  "refreshtoken",
  "password",
  "secret",
  "clientsecret",
  "cookie",
  "setcookie"
]

/**
 * Patterns masked inside every string by default: OpenAI-style keys
 * (`sk-…`) and bearer tokens.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPatterns: ReadonlyArray<RegExp> = [/\bsk-[A-Za-z0-9_-]{16,}/g, /\bBearer\s+[A-Za-z0-9._~+/-]+=*/g]

const normalise = (key: string) => key.toLowerCase().replace(/[-_]/g, "")

/**
 * Builds a `Redact` that replaces the value of every key in `keys` (at any
 * depth) with `replacement`, and every match of `patterns` inside strings.
 * Returns a copy; the input is not changed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly keys?: ReadonlyArray<string>
  readonly patterns?: ReadonlyArray<RegExp>
  readonly replacement?: string
} = {}): Redact => {
  const keys = new Set((options.keys ?? defaultKeys).map(normalise))
  const patterns = (options.patterns ?? defaultPatterns).map((p) =>
    new RegExp(p.source, p.flags.includes("g") ? p.flags : p.flags + "g")
  )
  const replacement = options.replacement ?? REDACTED
  const go = (value: JsonValue): JsonValue => {
    if (typeof value === "string") {
      let out = value
      for (const pattern of patterns) out = out.replace(pattern, replacement)
      return out
    }
    if (Array.isArray(value)) return value.map(go)
    if (value !== null && typeof value === "object") {
      const out: Record<string, JsonValue> = {}
      for (const [key, inner] of Object.entries(value as Record<string, JsonValue>)) {
        out[key] = keys.has(normalise(key)) ? replacement : go(inner)
      }
      return out
    }
    return value
  }
  return (value) => go(value)
}
