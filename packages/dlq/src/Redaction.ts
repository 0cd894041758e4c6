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
 * A redaction hook: gets a payload, a context, an error (`{ tag, message,
 * stack? }`, at `add` and for each failed replay) or a successful replay's
 * result (stored in the resolution) and returns what may be stored. It must
 * return JSON of the same kind (a context stays an object, an error keeps a
 * string `tag` and `message`); it should not mutate its input.
 *
 * @since 0.1.0
 * @category models
 */
export type Redact = (value: JsonValue, field: "payload" | "context" | "error" | "result") => JsonValue

/**
 * The value that replaces a redacted one.
 *
 * @since 0.1.0
 * @category constants
 */
export const REDACTED = "[REDACTED]"

/**
 * Key names blanked by default: API keys, tokens, passwords, secrets,
 * private and access keys, credentials, authorization headers, cookies. A
 * key is blanked when its name, lower-cased without `-`, `_` and `.`, ends
 * with one of them: `x-api-key`, `OPENAI_API_KEY`, `github_token` and
 * `db.password` are blanked; `max_tokens` and `tokenizer` are not.
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
  "privatekey",
  "accesskey",
  "credentials",
  "cookie",
  "setcookie"
]

/**
 * Patterns masked inside every string by default: `sk-…` keys (OpenAI,
 * Anthropic), bearer tokens, GitHub tokens (`ghp_…`, `github_pat_…`), AWS
 * access key ids (`AKIA…`) and Slack tokens (`xox…-`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPatterns: ReadonlyArray<RegExp> = [
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]+=*/g,
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g
]

const normalise = (key: string) => key.toLowerCase().replace(/[-_.]/g, "")

/**
 * Builds a `Redact` that replaces, at any depth, the value of every key whose
 * normalised name (lower case, without `-`, `_` and `.`) ends with one of
 * `keys` with `replacement`, and every match of `patterns` inside strings.
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
  const keys = (options.keys ?? defaultKeys).map(normalise).filter((key) => key.length > 0)
  const secret = (key: string) => {
    const name = normalise(key)
    return keys.some((suffix) => name.endsWith(suffix))
  }
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
        out[key] = secret(key) ? replacement : go(inner)
      }
      return out
    }
    return value
  }
  return (value) => go(value)
}
