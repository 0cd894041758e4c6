/**
 * @agentos/state — shared state for many agents: versioned values,
 * compare-and-set, merge strategies, history, a change feed and fenced locks.
 *
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as Entry from "./Entry.js"
/** @since 0.2.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Merge from "./Merge.js"
/** @since 0.1.0 */
export * as SharedState from "./SharedState.js"
