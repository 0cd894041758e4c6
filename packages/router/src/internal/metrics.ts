/**
 * The router's Effect Metrics (a leaf). The routing decision itself carries
 * none: it is a pure computation of a few microseconds, and even a counter
 * adds a noticeable share to it.
 */
import * as Metric from "effect/Metric"

/** Reservations made. */
export const reserved = Metric.counter("agentos_router_reservations_total", {
  description: "reservations made by the spend ledger",
  incremental: true
})

/** Reservations refused because a scope's budget could not hold them. */
export const refused = Metric.counter("agentos_router_reservations_refused_total", {
  description: "reservations refused with SpendLimitExceeded",
  incremental: true
})

/** Reservations settled with their actual cost. */
export const settled = Metric.counter("agentos_router_settlements_total", {
  description: "reservations settled with the actual cost",
  incremental: true
})

/** Reservation parts settled at their reserved amount because they expired. */
export const expired = Metric.counter("agentos_router_reservations_expired_total", {
  description: "reservation parts settled at their reserved amount after expiry",
  incremental: true
})

/** Micro-dollars charged by settlements. */
export const charged = Metric.counter("agentos_router_charged_microdollars_total", {
  description: "micro-dollars charged by settlements",
  incremental: true
})

/** Micro-dollars charged beyond reservations. */
export const overage = Metric.counter("agentos_router_overage_microdollars_total", {
  description: "micro-dollars charged beyond reservations",
  incremental: true
})
