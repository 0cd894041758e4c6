/**
 * Agent memory with decay: typed memories scored by importance, decay per
 * type, recency, access frequency and — given a query — relevance (BM25, or
 * an `Embedder`); top-k recall that never changes access statistics (the
 * caller `touch`es what it used); superseding keys; a context built to an
 * exact token budget; bounded capacity with batched eviction.
 *
 * One layer serves one team: memories of its agents and of the team itself.
 * Every layer takes its ids from core's `IdGenerator`, its token counts from
 * core's `TokenCounter` and its vectors from an `Embedder` when its context
 * has them (else ULIDs, exact o200k counts, and BM25 alone).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { EmbeddingFailed, InvalidInput, InvalidOptions, MemoryNotFound, StoreError } from "./Errors.js"
import { makeMemoryStore } from "./internal/memoryStore.js"
import * as internalOptions from "./internal/options.js"
import * as internal from "./internal/service.js"
import { makeSqlStore } from "./internal/sqlStore.js"
import type {
  Added,
  AddInput,
  Context as BuiltContext,
  ContextInput,
  Memory,
  MemoryType,
  Recall,
  RecallInput,
  Stats,
  Weights
} from "./Memory.js"

/**
 * Options of every layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The team this layer serves (default `"default"`); several teams may share one database. */
  readonly team?: string
  /** Most live memories of the team (default 10,000). */
  readonly maxEntries?: number
  /**
   * When an add goes over `maxEntries`, this many of the lowest scores (no
   * query) are evicted at once, so the cost of a scan is shared by as many
   * adds (default 5% of `maxEntries`).
   */
  readonly evictionBatch?: number
  /** Half-lives in hours per type (defaults: the article's rates as half-lives). */
  readonly halfLives?: Readonly<Record<string, number>>
  /** Floors per type (0–1): the score decay cannot push a memory of the type below. */
  readonly floors?: Readonly<Record<string, number>>
  /** Weights of the score's terms (default `Memory.DEFAULT_WEIGHTS`). */
  readonly weights?: Partial<Weights>
  /** Half-life of the recency term in hours (default ≈6.93, the article's `exp(-0.1 h)`). */
  readonly recencyHalfLifeHours?: number
  /** The divisor of `ln(1 + accessCount)` (default 5, the article's). */
  readonly frequencyScale?: number
  /** The BM25 score mapped to a relevance of 0.5 (default 4; see `Memory.saturate`). */
  readonly relevanceHalfScore?: number
  /** Default section order of a context. */
  readonly order?: ReadonlyArray<MemoryType>
  /**
   * Consolidation: an added memory whose key here equals a live memory's of
   * the same scope and type is merged into it (importance the higher,
   * metadata merged). Default: the text itself (identical text merges);
   * return undefined to never merge.
   */
  readonly consolidationKey?: (memory: Memory) => string | undefined
  /**
   * How long the store keeps the ids of memories that stopped being live
   * (forgotten, evicted, superseded, cleared) for other processes to catch
   * up with, in hours (default 24); older ones are trimmed as the team is
   * written. A process that has not synced for longer reloads the team's
   * live memories at its next call instead of reading what changed.
   */
  readonly syncRetentionHours?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AgentMemoryService {
  /** Stores a memory, superseding the memory of the same key, or merging into an identical one. */
  readonly add: (input: AddInput) => Effect.Effect<Added, InvalidInput | EmbeddingFailed | StoreError>
  /**
   * Stores many memories at once, as `add` would one after the other (in
   * order: a later input merges into or supersedes an earlier one of the
   * same call), under one lock and in one store write; returns one `Added`
   * per input, in order. Every input is validated first: one bad input
   * fails the call with `InvalidInput` naming its index, and nothing is
   * written. Capacity is enforced once, at the end: what that evicts is on
   * the last `Added`.
   *
   * @since 0.2.0
   */
  readonly addMany: (
    inputs: ReadonlyArray<AddInput>
  ) => Effect.Effect<ReadonlyArray<Added>, InvalidInput | EmbeddingFailed | StoreError>
  /** The top k by score, best first; never changes access statistics. */
  readonly recall: (input?: RecallInput) => Effect.Effect<Recall, InvalidInput | EmbeddingFailed | StoreError>
  /** Marks memories as used: one access more each, last access now. */
  readonly touch: (ids: ReadonlyArray<string>) => Effect.Effect<void, InvalidInput | MemoryNotFound | StoreError>
  /** A context within `maxTokens` exactly (headers and separators counted); groups whole. */
  readonly buildContext: (
    input: ContextInput
  ) => Effect.Effect<BuiltContext, InvalidInput | EmbeddingFailed | StoreError>
  readonly forget: (id: string) => Effect.Effect<void, InvalidInput | MemoryNotFound | StoreError>
  /** Removes an agent's memories (history too), or every memory of the team; returns how many live ones. */
  readonly clear: (agent?: string) => Effect.Effect<number, InvalidInput | StoreError>
  /** A memory by id, live or superseded. */
  readonly get: (id: string) => Effect.Effect<Memory, InvalidInput | MemoryNotFound | StoreError>
  /** Every memory of a key (in an agent's scope, else the team's), superseded ones included, oldest first. */
  readonly history: (
    input: { readonly key: string; readonly agent?: string }
  ) => Effect.Effect<ReadonlyArray<Memory>, InvalidInput | StoreError>
  readonly stats: () => Effect.Effect<Stats, StoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AgentMemory extends Context.Tag("@agentos/memory/AgentMemory")<AgentMemory, AgentMemoryService>() {}

/**
 * An in-process memory: nothing survives a restart.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: Options = {}
): Layer.Layer<AgentMemory, InvalidOptions | EmbeddingFailed | StoreError> =>
  Layer.effect(
    AgentMemory,
    Effect.flatMap(
      internalOptions.resolve(options),
      (resolved) => Effect.flatMap(makeMemoryStore(resolved.syncRetention), (store) => internal.make(store, resolved))
    )
  )

/**
 * A memory in SQL (SQLite or Postgres, through `SqlClient`); runs its own
 * migrations (tables `agentos_memory_*`). The team's live memories are
 * loaded into the process when the layer is built; every call first reads
 * the team's version (one indexed single-row read) and, when another process
 * wrote since, fetches only what changed.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: Options = {}
): Layer.Layer<AgentMemory, InvalidOptions | EmbeddingFailed | StoreError, SqlClient.SqlClient> =>
  Layer.effect(
    AgentMemory,
    Effect.flatMap(
      internalOptions.resolve(options),
      (resolved) => Effect.flatMap(makeSqlStore(resolved.syncRetention), (store) => internal.make(store, resolved))
    )
  )
