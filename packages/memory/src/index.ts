/**
 * @agentos/memory — agent memory with decay: typed memories, explainable
 * scores, query recall, superseding keys, token-exact context, bounded
 * eviction, persistence.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AgentMemory from "./AgentMemory.js"
/** @since 0.1.0 */
export * as Embedder from "./Embedder.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Memory from "./Memory.js"
