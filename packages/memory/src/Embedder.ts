/**
 * The optional `Embedder`: when a layer of agent memory finds one in its
 * context, a query's relevance is the higher of its BM25 relevance and the
 * cosine similarity (below 0 counts as 0) of the query's vector and the
 * memory's. Memories are embedded when added and when a layer loads them
 * (vectors are kept in process, not stored).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { EmbeddingFailed } from "./Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface EmbedderService {
  /** One vector per text, in order, all of one dimension. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, EmbeddingFailed>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Embedder extends Context.Tag("@agentos/memory/Embedder")<Embedder, EmbedderService>() {}

/**
 * The cosine similarity of two vectors, 0 when either is zero or their
 * dimensions differ.
 *
 * @since 0.1.0
 * @category utils
 */
export const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  if (a.length !== b.length) return 0
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}
