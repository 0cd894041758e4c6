/**
 * @agentos/budget — a team's shared token budget: conserved weighted
 * allocations, stealing from idle agents with reclaim, reservations that
 * never overshoot, periods, alerts, a dashboard, and core's admission port.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Budget from "./Budget.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as TokenBudget from "./TokenBudget.js"
