/**
 * The typed errors of the token budget. They are `Schema.TaggedError`s, so
 * they serialise across HTTP and files.
 *
 * @since 0.1.0
 */
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * A call's argument is not valid (a token count that is not a non-negative
 * safe integer, a weight that is not positive, shares outside `[0, 1]`).
 * Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid. The layer fails when it is built, before
 * anything is opened.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * The budget scope that ran out: one agent's allocation, or the whole team's
 * total.
 *
 * @since 0.1.0
 * @category models
 */
export const Scope = Schema.Literal("agent", "team")

/**
 * @since 0.1.0
 * @category models
 */
export type Scope = typeof Scope.Type

/**
 * A request could not be granted. `scope` names what ran out: `"agent"` when
 * the agent's allocation (after reclaiming its loans and stealing from idle
 * agents) is short while the team still has tokens others hold, `"team"`
 * when the team's total, less what is used and reserved, is below the
 * request. `remaining` is what that scope has left (the largest amount a
 * request could be granted now); `requested` is what was asked.
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetExhausted extends Schema.TaggedError<BudgetExhausted>()("BudgetExhausted", {
  scope: Scope,
  agent: Schema.String,
  requested: Schema.Int,
  remaining: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const where = this.scope === "team" ? "the team's budget" : `agent "${this.agent}"'s budget`
    return `${where} is exhausted: ${this.requested} tokens requested, ${this.remaining} left`
  }
}

/**
 * No agent with this id is registered in the team.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownAgent extends Schema.TaggedError<UnknownAgent>()("UnknownAgent", {
  agent: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no agent "${this.agent}" is registered in the budget`
  }
}

/**
 * An agent that still holds reservations cannot be removed: commit or
 * release them first (or let them expire).
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentBusy extends Schema.TaggedError<AgentBusy>()("AgentBusy", {
  agent: Schema.String,
  reserved: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `agent "${this.agent}" still holds ${this.reserved} reserved tokens`
  }
}

/**
 * No reservation has this id in the team's budget.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReservationNotFound extends Schema.TaggedError<ReservationNotFound>()("ReservationNotFound", {
  id: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no reservation with id "${this.id}"`
  }
}

/**
 * The budget's store failed. `operation` names the store operation,
 * `cause` keeps the backend's error.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.1.0 */
  override get message(): string {
    return StoreFailure.message("budget", this)
  }
}
