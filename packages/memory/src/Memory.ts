/**
 * The data of agent memory: memory types and their half-lives, the scoring
 * weights and formula, what `add`, `recall` and `buildContext` take and give.
 *
 * A memory's score is a weighted mean of terms in [0, 1] (frequency, as in
 * the article, passes 1 after about 147 accesses):
 *
 * - `importance` — given at `add` (0–1);
 * - `decay` — `2^(-age / halfLife)`, the age since creation, the half-life
 *   per type (the article's rates as half-lives: `ln 2 / rate` hours);
 * - `recency` — `2^(-sinceLastAccess / recencyHalfLife)` (the article's
 *   `exp(-0.1 h)`: a half-life of `ln 2 / 0.1` ≈ 6.93 hours);
 * - `frequency` — `ln(1 + accessCount) / 5` (the article's term, uncapped, so
 *   the article's formula holds at any access count);
 * - `relevance` — only when a query is given: the BM25 score `s` of the
 *   text mapped by `s / (s + relevanceHalfScore)` (see `saturate`), or the
 *   cosine similarity of an `Embedder`'s vectors when it is higher.
 *
 * Without a query the relevance weight is shared out over the other terms in
 * proportion (the weights are divided by their sum). The result is clamped
 * to [0, 1], then raised to the memory's floor (its own, else its type's),
 * so decay cannot bury it below that.
 *
 * @since 0.1.0
 */
import * as Ids from "@agentos/core/Ids"
import * as Json from "@agentos/core/Json"
import * as Schema from "effect/Schema"

/**
 * The built-in memory types; any other non-empty string is a user-defined
 * type.
 *
 * @since 0.1.0
 * @category models
 */
export type BuiltInType = "fact" | "instruction" | "result" | "conversation" | "decision"

/**
 * A memory type: a built-in one or a user-defined name.
 *
 * @since 0.1.0
 * @category models
 */
export type MemoryType = BuiltInType | (string & {})

/**
 * The article's decay rates per hour (`exp(-rate · ageHours)`); a type
 * without one decays at 0.05.
 *
 * @since 0.1.0
 * @category defaults
 */
export const ARTICLE_DECAY_RATES: Readonly<Record<BuiltInType, number>> = {
  fact: 0.01,
  instruction: 0.005,
  result: 0.1,
  conversation: 0.05,
  decision: 0.02
}

/**
 * The article's rate of a type it does not name.
 *
 * @since 0.1.0
 * @category defaults
 */
export const ARTICLE_DEFAULT_DECAY_RATE = 0.05

/**
 * The half-life in hours equivalent to a decay rate per hour: `ln 2 / rate`.
 *
 * @since 0.1.0
 * @category scoring
 */
export const halfLifeOfRate = (ratePerHour: number): number => Math.LN2 / ratePerHour

/**
 * The default half-lives in hours: exactly the article's rates (instruction
 * ≈138.6 h, fact ≈69.3 h, decision ≈34.7 h, conversation ≈13.9 h, result
 * ≈6.93 h).
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_HALF_LIVES: Readonly<Record<BuiltInType, number>> = {
  fact: halfLifeOfRate(ARTICLE_DECAY_RATES.fact),
  instruction: halfLifeOfRate(ARTICLE_DECAY_RATES.instruction),
  result: halfLifeOfRate(ARTICLE_DECAY_RATES.result),
  conversation: halfLifeOfRate(ARTICLE_DECAY_RATES.conversation),
  decision: halfLifeOfRate(ARTICLE_DECAY_RATES.decision)
}

/**
 * The half-life of a type without one (the article's 0.05 per hour).
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_HALF_LIFE = halfLifeOfRate(ARTICLE_DEFAULT_DECAY_RATE)

/**
 * The half-life of the recency term in hours: the article's `exp(-0.1 h)`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_RECENCY_HALF_LIFE = halfLifeOfRate(0.1)

/**
 * The article's divisor of `ln(1 + accessCount)`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_FREQUENCY_SCALE = 5

/**
 * The BM25 score that maps to a relevance of 0.5 (see `saturate`). Measured
 * with MiniSearch over 1,000 short texts: a query word found in one of them
 * scores ≈10 (relevance ≈0.7), three such words ≈90 (≈0.96), a word found in
 * all of them ≈0.
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_RELEVANCE_HALF_SCORE = 4

/**
 * The context sections' default order.
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_ORDER: ReadonlyArray<MemoryType> = ["instruction", "decision", "fact", "conversation", "result"]

/**
 * The weights of the score's terms; any non-negative numbers (the score
 * divides by their sum).
 *
 * @since 0.1.0
 * @category models
 */
export interface Weights {
  readonly importance: number
  readonly decay: number
  readonly recency: number
  readonly frequency: number
  readonly relevance: number
}

/**
 * The article's weights (0.4, 0.3, 0.2, 0.1) and no relevance: the article's
 * formula, exactly.
 *
 * @since 0.1.0
 * @category defaults
 */
export const ARTICLE_WEIGHTS: Weights = { importance: 0.4, decay: 0.3, recency: 0.2, frequency: 0.1, relevance: 0 }

/**
 * The default weights: the article's, with a relevance weight of 0.4 used
 * only when a query is given (without one, the score is the article's).
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_WEIGHTS: Weights = { importance: 0.4, decay: 0.3, recency: 0.2, frequency: 0.1, relevance: 0.4 }

/**
 * The saturating map of a BM25 score `s ≥ 0` to [0, 1): `s / (s + half)`.
 * It is absolute, not relative to the best match of a query, so the best of
 * several weak matches stays weak.
 *
 * @since 0.1.0
 * @category scoring
 */
export const saturate = (score: number, half: number = DEFAULT_RELEVANCE_HALF_SCORE): number =>
  score > 0 ? score / (score + half) : 0

/**
 * `2^(-elapsed / halfLife)`, both in the same unit; 1 for a negative elapsed
 * time (a clock that went back).
 *
 * @since 0.1.0
 * @category scoring
 */
export const decay = (elapsed: number, halfLife: number): number =>
  elapsed <= 0 ? 1 : Math.exp(-(Math.LN2 / halfLife) * elapsed)

/**
 * The frequency term: `ln(1 + accessCount) / scale` (the article's; above 1
 * after `e^scale - 1` accesses, the score's clamp keeps the score in [0, 1]).
 *
 * @since 0.1.0
 * @category scoring
 */
export const frequency = (accessCount: number, scale: number = DEFAULT_FREQUENCY_SCALE): number =>
  Math.log1p(accessCount) / scale

/**
 * The terms of a score, each in [0, 1] but `frequency` (see `frequency`);
 * `relevance` is undefined without a query.
 *
 * @since 0.1.0
 * @category models
 */
export interface Terms {
  readonly importance: number
  readonly decay: number
  readonly recency: number
  readonly frequency: number
  readonly relevance: number | undefined
}

/**
 * The weighted mean of the terms, clamped to [0, 1], raised to `floor`.
 * Without relevance, its weight is shared out over the others in proportion.
 *
 * @since 0.1.0
 * @category scoring
 */
export const score = (terms: Terms, weights: Weights, floor = 0): number => {
  const relevance = terms.relevance === undefined ? 0 : weights.relevance
  const sum = weights.importance + weights.decay + weights.recency + weights.frequency + relevance
  const weighted = sum === 0 ? 0 : (weights.importance * terms.importance + weights.decay * terms.decay +
    weights.recency * terms.recency + weights.frequency * terms.frequency +
    relevance * (terms.relevance ?? 0)) / sum
  return Math.max(floor, Math.min(1, Math.max(0, weighted)))
}

/**
 * A stored memory. `agent` is undefined for a memory of the team.
 * `supersededBy`/`supersededAt` are set on a memory replaced by a newer one
 * with the same key (kept as history, never recalled).
 *
 * @since 0.1.0
 * @category models
 */
export const Memory = Schema.Struct({
  id: Ids.MemoryId,
  team: Schema.String,
  agent: Schema.optional(Schema.String),
  type: Schema.String,
  text: Schema.String,
  importance: Schema.Number,
  key: Schema.optional(Schema.String),
  group: Schema.optional(Schema.String),
  floor: Schema.optional(Schema.Number),
  metadata: Json.JsonObject,
  createdAt: Schema.Number,
  lastAccessedAt: Schema.Number,
  accessCount: Schema.Number,
  expiresAt: Schema.optional(Schema.Number),
  supersededBy: Schema.optional(Schema.String),
  supersededAt: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Memory = typeof Memory.Type

/**
 * What `add` takes. Without `agent` the memory belongs to the team.
 *
 * @since 0.1.0
 * @category models
 */
export interface AddInput {
  readonly text: string
  readonly type: MemoryType
  /** 0–1 (default 0.5, as the article's `add`). */
  readonly importance?: number
  readonly agent?: string
  /** A key such as `user/city`: adding another memory with it in the same scope supersedes this one. */
  readonly key?: string
  /** Memories of one group (a tool call and its result) go into a context together or not at all. */
  readonly group?: string
  /** The score below which decay cannot push this memory (0–1); else its type's floor. */
  readonly floor?: number
  readonly metadata?: Json.JsonObject
  /** Epoch milliseconds from which the memory is no longer recalled. */
  readonly expiresAt?: number
}

/**
 * What `add` did: stored a new memory (superseding the memories of the same
 * key, whose ids it lists), or merged the input into an identical memory.
 *
 * @since 0.1.0
 * @category models
 */
export interface Added {
  readonly memory: Memory
  readonly outcome: "added" | "merged"
  readonly superseded: ReadonlyArray<string>
  /** Memories evicted to keep `maxEntries` (the new one among them if it scored lowest). */
  readonly evicted: ReadonlyArray<string>
}

/**
 * Where a recalled memory comes from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source = "agent" | "team"

/**
 * One term of an explained score: its value, its effective weight (after the
 * sharing out of the relevance weight) and its contribution.
 *
 * @since 0.1.0
 * @category models
 */
export interface Term {
  readonly value: number
  readonly weight: number
  readonly contribution: number
}

/**
 * An explained score.
 *
 * @since 0.1.0
 * @category models
 */
export interface Explanation {
  readonly importance: Term
  readonly decay: Term
  readonly recency: Term
  readonly frequency: Term
  readonly relevance: Term | undefined
  /** The clamped weighted mean before the floor. */
  readonly weighted: number
  readonly floor: number
  /** Whether the floor raised the score. */
  readonly floored: boolean
}

/**
 * A recalled memory.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recalled {
  readonly memory: Memory
  readonly score: number
  readonly source: Source
  readonly explanation?: Explanation
}

/**
 * A memory the decay pushed below the cut: without decay (its decay term at
 * 1) it would have been recalled.
 *
 * @since 0.1.0
 * @category models
 */
export interface BelowCut {
  readonly memory: Memory
  readonly score: number
  readonly undecayedScore: number
  readonly source: Source
  readonly explanation: Explanation
}

/**
 * What `recall` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecallInput {
  /** Whose memory: the agent's own, and its team's unless `includeTeam` is false. Without it, the team's. */
  readonly agent?: string
  readonly includeTeam?: boolean
  readonly query?: string
  /** How many memories at most (default 20). */
  readonly topK?: number
  readonly types?: ReadonlyArray<MemoryType>
  readonly minScore?: number
  /** Adds each score's terms, and what decay pushed below the cut. */
  readonly explain?: boolean
}

/**
 * What `recall` returns: the memories, best first; `belowCut` only with
 * `explain`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recall {
  readonly memories: ReadonlyArray<Recalled>
  readonly belowCut?: ReadonlyArray<BelowCut>
}

/**
 * What `buildContext` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContextInput {
  readonly maxTokens: number
  readonly agent?: string
  readonly includeTeam?: boolean
  readonly query?: string
  readonly types?: ReadonlyArray<MemoryType>
  /** Section order; types not named follow in name order (default `DEFAULT_ORDER`, or the layer's). */
  readonly order?: ReadonlyArray<MemoryType>
  /** How many of the best memories are considered (default 200). */
  readonly candidates?: number
}

/**
 * A built context: its text, the memories in it (in text order) and its
 * exact token count, never above `maxTokens`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly text: string
  readonly memories: ReadonlyArray<Memory>
  readonly tokens: number
}

/**
 * What `stats` returns: live memories per type and source, and the
 * distribution of their scores (without a query) now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly total: number
  readonly byType: Readonly<Record<string, number>>
  readonly team: number
  readonly agents: number
  readonly scores: {
    readonly min: number
    readonly max: number
    readonly mean: number
    readonly p50: number
    readonly p90: number
  }
}

/**
 * A section header of a context: `## Instructions` for `instruction`.
 *
 * @since 0.1.0
 * @category context
 */
export const header = (type: string): string => `## ${type.charAt(0).toUpperCase()}${type.slice(1)}s`

/**
 * A memory's line in a context: `- text`, continuation lines indented by two
 * spaces so no text can open a section of its own.
 *
 * @since 0.1.0
 * @category context
 */
export const line = (text: string): string => `- ${text.replace(/\r\n?|\n/g, "\n  ")}`
