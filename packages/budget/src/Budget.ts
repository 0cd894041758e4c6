/**
 * The data of a team's token budget: agents and their allocations, grants,
 * reservations and their settlements, the record of steals and reclaims,
 * period history, alerts and the dashboard. Plain serialisable values.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const Tokens = Schema.NonNegativeInt

/**
 * A share of the team's total, from 0 to 1.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Share = Schema.Number.pipe(Schema.between(0, 1))

/**
 * An agent as registered: its priority weight (a share of the budget, not a
 * task priority) and optional guaranteed minimum and maximum shares of the
 * team's total.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentSpec = Schema.Struct({
  id: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(256)),
  weight: Schema.optionalWith(Schema.Number.pipe(Schema.positive(), Schema.finite()), { default: () => 1 }),
  minShare: Schema.optionalWith(Share, { default: () => 0 }),
  maxShare: Schema.optionalWith(Share, { default: () => 1 })
}).pipe(
  Schema.filter((spec) =>
    spec.minShare > spec.maxShare ? `minShare (${spec.minShare}) exceeds maxShare (${spec.maxShare})` : undefined
  )
).annotations({ identifier: "AgentSpec" })

/**
 * What `register` takes: `weight` defaults to 1, `minShare` to 0, `maxShare`
 * to 1.
 *
 * @since 0.1.0
 * @category models
 */
export type AgentSpecInput = typeof AgentSpec.Encoded

/**
 * @since 0.1.0
 * @category models
 */
export type AgentSpec = typeof AgentSpec.Type

/**
 * One agent's figures. Invariant: `0 ≤ used + reserved ≤ allocated`.
 * `remaining` is `allocated − used − reserved`; `lent` is what other agents
 * hold of its allocation (steals not yet reclaimed), `borrowed` what it holds
 * of others'. `overage` counts tokens it used beyond what it could be
 * charged (recorded, never hidden).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentStatus = Schema.Struct({
  id: Schema.String,
  weight: Schema.Number,
  minShare: Schema.Number,
  maxShare: Schema.Number,
  allocated: Tokens,
  used: Tokens,
  reserved: Tokens,
  remaining: Tokens,
  lent: Tokens,
  borrowed: Tokens,
  overage: Tokens,
  utilisation: Schema.Number,
  lastActivity: Schema.Number
}).annotations({ identifier: "AgentStatus" })

/**
 * @since 0.1.0
 * @category models
 */
export type AgentStatus = typeof AgentStatus.Type

/**
 * The answer to `request`: the tokens granted (charged as used), and whether
 * that is all that was asked.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Grant = Schema.Struct({
  agent: Schema.String,
  requested: Tokens,
  granted: Tokens,
  partial: Schema.Boolean
}).annotations({ identifier: "Grant" })

/**
 * @since 0.1.0
 * @category models
 */
export type Grant = typeof Grant.Type

/**
 * A reservation: `amount` tokens held for `agent` until it is committed,
 * released, or expires at `expiresAt` (epoch milliseconds by the store's
 * clock; `null`: never).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reservation = Schema.Struct({
  id: Schema.String,
  agent: Schema.String,
  requested: Tokens,
  amount: Tokens,
  partial: Schema.Boolean,
  expiresAt: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "Reservation" })

/**
 * @since 0.1.0
 * @category models
 */
export type Reservation = typeof Reservation.Type

/**
 * What became of a reservation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReservationState = Schema.Literal("held", "committed", "released", "expired")

/**
 * @since 0.1.0
 * @category models
 */
export type ReservationState = typeof ReservationState.Type

/**
 * The outcome of settling a reservation. `state` is its final state: a
 * second `commit` or `release` returns the first settlement unchanged
 * (`repeated: true`). On commit, `charged` tokens were counted as used,
 * `refunded` went back to the agent, and `overage` is the part of the
 * actual usage that neither the reservation nor the agent's remaining
 * allocation could cover (recorded on the agent and reported as an alert).
 * A reservation that expired returned its tokens; committing it afterwards
 * charges the actual usage from what the agent has left.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Settlement = Schema.Struct({
  id: Schema.String,
  agent: Schema.String,
  state: ReservationState,
  reserved: Tokens,
  actual: Tokens,
  charged: Tokens,
  refunded: Tokens,
  overage: Tokens,
  repeated: Schema.Boolean
}).annotations({ identifier: "Settlement" })

/**
 * @since 0.1.0
 * @category models
 */
export type Settlement = typeof Settlement.Type

/**
 * One move of allocation between agents: a `steal` (an active agent took
 * `amount` from an idle `from`) or a `reclaim` (the lender `to` took back
 * what its borrower `from` had not used or reserved).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Transfer = Schema.Struct({
  kind: Schema.Literal("steal", "reclaim"),
  from: Schema.String,
  to: Schema.String,
  amount: Tokens,
  at: Schema.Number
}).annotations({ identifier: "Transfer" })

/**
 * @since 0.1.0
 * @category models
 */
export type Transfer = typeof Transfer.Type

/**
 * The figures of one ended period.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PeriodSummary = Schema.Struct({
  period: Schema.String,
  total: Tokens,
  used: Tokens,
  overage: Tokens,
  steals: Tokens,
  reclaims: Tokens,
  endedAt: Schema.Number
}).annotations({ identifier: "PeriodSummary" })

/**
 * @since 0.1.0
 * @category models
 */
export type PeriodSummary = typeof PeriodSummary.Type

/**
 * An event of the alerts stream: use crossing a threshold (once per scope,
 * threshold and period), a steal, a reclaim, an overage.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Alert = Schema.Union(
  Schema.TaggedStruct("ThresholdCrossed", {
    scope: Schema.Literal("agent", "team"),
    agent: Schema.optional(Schema.String),
    threshold: Schema.Number,
    used: Tokens,
    limit: Tokens,
    period: Schema.String
  }),
  Schema.TaggedStruct("Stolen", { transfer: Transfer }),
  Schema.TaggedStruct("Reclaimed", { transfer: Transfer }),
  Schema.TaggedStruct("Overage", { agent: Schema.String, reservation: Schema.String, tokens: Tokens })
).annotations({ identifier: "BudgetAlert" })

/**
 * @since 0.1.0
 * @category models
 */
export type Alert = typeof Alert.Type

/**
 * The dashboard: the article's figures (allocated, used, remaining,
 * utilisation, priority per agent; team totals) plus reserved, transfers,
 * overage, outstanding reservations and the history of ended periods.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Dashboard = Schema.Struct({
  team: Schema.String,
  period: Schema.String,
  total: Tokens,
  allocated: Tokens,
  used: Tokens,
  reserved: Tokens,
  remaining: Tokens,
  utilisation: Schema.Number,
  overage: Tokens,
  /** Used this period by agents since removed. */
  retiredUsed: Tokens,
  agents: Schema.Array(AgentStatus),
  outstandingReservations: Schema.Int,
  steals: Tokens,
  reclaims: Tokens,
  transfers: Schema.Array(Transfer),
  history: Schema.Array(PeriodSummary)
}).annotations({ identifier: "BudgetDashboard" })

/**
 * @since 0.1.0
 * @category models
 */
export type Dashboard = typeof Dashboard.Type
