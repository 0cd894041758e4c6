// The narrow store contract of the token budget (the `BudgetLedger`): load a
// team's state in one transaction, let the rules (internal/rules.ts) change
// it, write the changes back in the same transaction. A backend decides
// atomicity (a lock in memory, a transaction with row locks on SQL) and judges
// reservation expiry by its own clock (Clock in memory, the database's on
// SQL); it knows nothing of allocation.
import type * as Effect from "effect/Effect"
import type { PeriodSummary, ReservationState, Transfer } from "../Budget.js"
import type { StoreError } from "../Errors.js"

export interface TeamRow {
  readonly total: number
  readonly periodKey: string
  /** Used this period by agents since removed (still counted against the total). */
  readonly retiredUsed: number
  readonly retiredOverage: number
  /**
   * What the team used this period: `retiredUsed` plus every agent's use.
   * Kept on the row (the rules set it on every write) so that a fast-path
   * commit can add to it in the statement that charges the agent, and read
   * the team's use for its alerts without reading every agent.
   */
  readonly used: number
  /** Tokens stolen and reclaimed this period. */
  readonly steals: number
  readonly reclaims: number
}

export interface AgentRow {
  readonly id: string
  readonly weight: number
  readonly minShare: number
  readonly maxShare: number
  readonly allocated: number
  readonly used: number
  readonly reserved: number
  readonly overage: number
  readonly lastActivity: number
  /** Registration order, for deterministic tie-breaks. */
  readonly seq: number
}

/** Allocation `lender` gave `borrower` by steals, not yet reclaimed. */
export interface LoanRow {
  readonly lender: string
  readonly borrower: string
  readonly amount: number
}

/** A loan's identity: one loan per lender and borrower. */
export const loanKey = (lender: string, borrower: string): string => `${lender}\u0000${borrower}`

export interface ReservationRow {
  readonly id: string
  readonly agent: string
  readonly requested: number
  readonly amount: number
  readonly state: ReservationState
  readonly expiresAt: number | null
  /** Once settled: what the settlement was. */
  readonly actual: number
  readonly charged: number
  readonly refunded: number
  readonly overage: number
}

/** What a transaction sees. */
export interface Snapshot {
  readonly team: TeamRow | undefined
  readonly agents: ReadonlyArray<AgentRow>
  readonly loans: ReadonlyArray<LoanRow>
  /** Held reservations whose expiry has passed, by the store's clock. */
  readonly expired: ReadonlyArray<ReservationRow>
  /** The reservation the operation names (commit, release), if it exists. */
  readonly target: ReservationRow | undefined
}

/** A reservation to insert; the store sets its expiry `ttlMillis` from now by its clock (`null`: never). */
export interface NewReservation {
  readonly id: string
  readonly agent: string
  readonly requested: number
  readonly amount: number
  readonly ttlMillis: number | null
}

/** What a transaction writes. */
export interface Changes {
  readonly team: TeamRow | undefined
  /** Inserted or updated agents. */
  readonly agents: ReadonlyArray<AgentRow>
  readonly removedAgents: ReadonlyArray<string>
  /** Loans whose amount changed (0: delete). */
  readonly loans: ReadonlyArray<LoanRow>
  /** All loans are deleted first (a rebalance cancels them). */
  readonly clearLoans: boolean
  readonly reservation: NewReservation | undefined
  /** Reservations whose state changed (settled or expired). */
  readonly settled: ReadonlyArray<ReservationRow>
  readonly transfers: ReadonlyArray<Transfer>
  readonly history: ReadonlyArray<PeriodSummary>
}

/** What the rules return: changes to write and a result, or a failure (nothing written). */
export type Outcome<A, E> =
  | { readonly _tag: "Write"; readonly changes: Changes; readonly result: A }
  | { readonly _tag: "Fail"; readonly error: E }

/** What a read for the dashboard sees. */
export interface View {
  readonly team: TeamRow | undefined
  readonly agents: ReadonlyArray<AgentRow>
  readonly loans: ReadonlyArray<LoanRow>
  readonly held: number
  readonly transfers: ReadonlyArray<Transfer>
  readonly history: ReadonlyArray<PeriodSummary>
}

/**
 * What the fast paths need to know of the service's state: they apply only
 * when the team is already in this period with this total (no rollover, no
 * rebalance to do) and no held reservation may have expired (no sweep to do).
 */
export interface FastGuard {
  readonly periodKey: string
  readonly total: number
  /** The service's Clock: the agent's activity time. */
  readonly now: number
}

/** A reservation that the fast path makes when the whole amount fits. */
export interface FastReserve extends FastGuard {
  readonly id: string
  readonly agent: string
  readonly tokens: number
  readonly ttlMillis: number | null
}

/** A commit of a held reservation that the fast path settles when `actual ≤ amount`. */
export interface FastCommit extends FastGuard {
  readonly id: string
  readonly actual: number
}

/** What a fast path did: the agent's and the team's figures after it (for the threshold alerts). */
export interface FastOutcome {
  readonly agent: string
  readonly used: number
  readonly allocated: number
  readonly teamUsed: number
  /** The reservation's amount (reserve: the tokens; commit: what it held). */
  readonly amount: number
  /** A new reservation's expiry by the store's clock (`null`: never); on commit, undefined. */
  readonly expiresAt: number | null
}

export interface BudgetLedger {
  /**
   * Runs `rules` on the team's state atomically: no other transaction of the
   * same team runs between the load and the write. `reservationId` names the
   * reservation loaded as `target`. Returns the rules' result and, when a
   * reservation was inserted, its expiry by the store's clock.
   */
  readonly transact: <A, E>(
    operation: string,
    reservationId: string | undefined,
    rules: (snapshot: Snapshot) => Outcome<A, E>
  ) => Effect.Effect<{ readonly result: A; readonly expiresAt: number | null }, E | StoreError>
  /**
   * Reserves without loading the team, when nothing but this agent's row
   * and the new reservation change: the guard holds, the agent lent nothing
   * (no reclaim to do), the tokens fit what it has left, and the new
   * reservation expires no earlier than the team's next expiry. Returns
   * `undefined`, having changed nothing, when any of that does not hold:
   * the caller then runs the whole rules in `transact`. Atomic against
   * `transact` and against every other fast path.
   */
  readonly reserveFast: (input: FastReserve) => Effect.Effect<FastOutcome | undefined, StoreError>
  /**
   * Commits a held reservation without loading the team, when its actual
   * usage is at most what it holds (no overage), its amount is positive and
   * the guard holds; `undefined` otherwise, with nothing changed. A store
   * may also take usage above the hold when the agent's allocation has room
   * for the rest (the memory store does): charged in full, as the rules do.
   */
  readonly commitFast: (input: FastCommit) => Effect.Effect<FastOutcome | undefined, StoreError>
  /**
   * Claims threshold alerts of `period`: returns the keys that no process
   * claimed before (each key is claimed once per team and period); the
   * claims of ended periods are forgotten when a new period starts.
   */
  readonly claimAlerts: (
    period: string,
    keys: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** The team's state for the dashboard; `transfers` newest first, at most `transferLimit`. */
  readonly view: (transferLimit: number) => Effect.Effect<View, StoreError>
}

export const emptyChanges: Changes = {
  team: undefined,
  agents: [],
  removedAgents: [],
  loans: [],
  clearLoans: false,
  reservation: undefined,
  settled: [],
  transfers: [],
  history: []
}
