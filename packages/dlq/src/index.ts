/**
 * @agentos/dlq — the dead letter queue: durable letters, safe replay with a
 * patch, resolve, purge, summaries and alerts.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AlertSink from "./AlertSink.js"
/** @since 0.1.0 */
export * as DeadLetterQueue from "./DeadLetterQueue.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Letter from "./Letter.js"
/** @since 0.1.0 */
export * as Redaction from "./Redaction.js"
