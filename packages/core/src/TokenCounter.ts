/**
 * Counting tokens: exactly with `gpt-tokenizer` (o200k by default, cl100k
 * selectable), or cheaply by an approximation.
 *
 * Special-token markers such as `<|endoftext|>` inside user text are counted
 * as ordinary text, never rejected: text from agents is data.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { utf8Length } from "./Json.js"

/**
 * The encodings a counter can use.
 *
 * @since 0.1.0
 * @category models
 */
export type Encoding = "o200k_base" | "cl100k_base" | "approximate"

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenCounterService {
  readonly encoding: Encoding
  /** Whether counts are exact for the encoding, or an estimate. */
  readonly exact: boolean
  readonly count: (text: string) => number
  /** Whether `text` fits in `limit` tokens; stops counting early when not. */
  readonly fits: (text: string, limit: number) => boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenCounter extends Context.Tag("@agentos/core/TokenCounter")<TokenCounter, TokenCounterService>() {}

const TEXT = { disallowedSpecial: new Set<string>() }

/**
 * Loads an exact counter for an encoding (each encoding's tables load once,
 * on first use).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeExact = (encoding: "o200k_base" | "cl100k_base" = "o200k_base"): Effect.Effect<TokenCounterService> =>
  Effect.map(
    Effect.promise(() =>
      encoding === "o200k_base"
        ? import("gpt-tokenizer/encoding/o200k_base")
        : import("gpt-tokenizer/encoding/cl100k_base")
    ),
    (tokenizer): TokenCounterService => ({
      encoding,
      exact: true,
      count: (text) => tokenizer.countTokens(text, TEXT),
      fits: (text, limit) => tokenizer.isWithinTokenLimit(text, limit, TEXT) !== false
    })
  )

/**
 * An approximate counter: one token per four bytes of UTF-8, rounded up.
 * It costs a single pass over the text; on English prose it over-counts by
 * about a quarter against o200k (see the package benchmark), which is the safe
 * side for budgets. Use it where an exact count is too slow.
 *
 * @since 0.1.0
 * @category constructors
 */
export const approximate: TokenCounterService = {
  encoding: "approximate",
  exact: false,
  count: (text) => Math.ceil(utf8Length(text) / 4),
  fits: (text, limit) => text.length <= limit * 4 && Math.ceil(utf8Length(text) / 4) <= limit
}

/**
 * The default layer: exact o200k counts (the GPT-4o / GPT-4.1 / o-series
 * encoding).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TokenCounter> = Layer.effect(TokenCounter, makeExact("o200k_base"))

/**
 * An exact layer for a chosen encoding (`cl100k_base` for GPT-4 / GPT-3.5).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEncoding = (encoding: "o200k_base" | "cl100k_base"): Layer.Layer<TokenCounter> =>
  Layer.effect(TokenCounter, makeExact(encoding))

/**
 * The approximate layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerApproximate: Layer.Layer<TokenCounter> = Layer.succeed(TokenCounter, approximate)

/**
 * Counts the tokens of a text with the provided counter.
 *
 * @since 0.1.0
 * @category accessors
 */
export const count = (text: string): Effect.Effect<number, never, TokenCounter> =>
  Effect.map(TokenCounter, (counter) => counter.count(text))
