/**
 * @agentos/core — ids, money, token usage, SQL support, ports, token
 * counting, and the store plumbing (leases, atomic files, the directory lock,
 * store errors) shared by every AgentOS package.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AdmissionPolicy from "./AdmissionPolicy.js"
/** @since 0.2.0 */
export * as AtomicFile from "./AtomicFile.js"
/** @since 0.1.0 */
export * as Complexity from "./Complexity.js"
/** @since 0.1.0 */
export * as DeadLetters from "./DeadLetters.js"
/** @since 0.1.0 */
export * as Failure from "./Failure.js"
/** @since 0.1.0 */
export * as FileLock from "./FileLock.js"
/** @since 0.1.0 */
export * as IdGenerator from "./IdGenerator.js"
/** @since 0.1.0 */
export * as Ids from "./Ids.js"
/** @since 0.1.0 */
export * as Json from "./Json.js"
/** @since 0.2.0 */
export * as Lease from "./Lease.js"
/** @since 0.1.0 */
export * as Money from "./Money.js"
/** @since 0.3.0 */
export * as Period from "./Period.js"
/** @since 0.1.0 */
export * as Pricing from "./Pricing.js"
/** @since 0.3.0 */
export * as Reservation from "./Reservation.js"
/** @since 0.2.0 */
export * as Sorted from "./Sorted.js"
/** @since 0.1.0 */
export * as Sql from "./Sql.js"
/** @since 0.2.0 */
export * as StoreFailure from "./StoreFailure.js"
/** @since 0.1.0 */
export * as TokenCounter from "./TokenCounter.js"
/** @since 0.1.0 */
export * as TokenUsage from "./TokenUsage.js"
