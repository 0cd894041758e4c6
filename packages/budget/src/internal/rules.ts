// The allocation rules, written once: pure functions over a team's state as a
// store loaded it (a Snapshot), returning the changes to write (or a failure,
// in which case nothing is written). Every backend runs them inside its own
// transaction, so the invariants hold whatever the backend:
//
//   0 ≤ used + reserved ≤ allocated          for each agent
//   Σ allocated ≤ total − retiredUsed        (the total is never over-allocated)
//   Σ used + retiredUsed ≤ total             (use never passes the total)
//
// Usage beyond what could be charged is never charged against the total (that
// would break the last line); it is recorded as overage and reported.
import * as Reservation from "@agentos/core/Reservation"
import type { PeriodSummary, Settlement, Transfer } from "../Budget.js"
import { AgentBusy, BudgetExhausted, InvalidInput, ReservationNotFound, UnknownAgent } from "../Errors.js"
import {
  type AgentRow,
  type Changes,
  loanKey,
  type LoanRow,
  type Outcome,
  type ReservationRow,
  type Snapshot,
  type TeamRow
} from "./store.js"

export interface Settings {
  /** The team's total, as configured. */
  readonly total: number
  /** The current period's key ("all" without periods). */
  readonly periodKey: string
  /** The current time by Clock (activity, idleness, records). */
  readonly now: number
  /** An agent with no activity for this long is idle and may be stolen from. */
  readonly idleAfterMillis: number
  /** The fraction of what an idle donor has left that it may give in one steal. */
  readonly donorShare: number
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** What an operation reports beside its result, for metrics and alerts. */
export interface Report {
  readonly team: TeamRow
  /** What the team used this period (removed agents included). */
  readonly teamUsed: number
  readonly agents: ReadonlyArray<AgentRow>
  readonly transfers: ReadonlyArray<Transfer>
  readonly overages: ReadonlyArray<{ readonly agent: string; readonly reservation: string; readonly tokens: number }>
  readonly expired: number
}

export interface Result<A> {
  readonly value: A
  readonly report: Report
}

export class Draft {
  readonly team: Mutable<TeamRow>
  readonly agents = new Map<string, Mutable<AgentRow>>()
  private readonly dirty = new Set<string>()
  private readonly removed: Array<string> = []
  private readonly loans = new Map<string, Mutable<LoanRow>>()
  private readonly dirtyLoans = new Set<string>()
  private clearLoans = false
  private teamDirty = false
  readonly settled = new Map<string, ReservationRow>()
  readonly transfers: Array<Transfer> = []
  readonly history: Array<PeriodSummary> = []
  readonly overages: Array<{ agent: string; reservation: string; tokens: number }> = []
  reservation: Changes["reservation"] = undefined
  expiredCount = 0

  constructor(readonly snapshot: Snapshot, readonly settings: Settings) {
    if (snapshot.team === undefined) {
      this.team = {
        total: settings.total,
        periodKey: settings.periodKey,
        retiredUsed: 0,
        retiredOverage: 0,
        used: 0,
        steals: 0,
        reclaims: 0
      }
      this.teamDirty = true
    } else {
      this.team = { ...snapshot.team }
    }
    for (const agent of snapshot.agents) this.agents.set(agent.id, { ...agent })
    for (const loan of snapshot.loans) this.loans.set(loanKey(loan.lender, loan.borrower), { ...loan })
  }

  touchTeam() {
    this.teamDirty = true
  }

  touch(agent: Mutable<AgentRow>) {
    this.dirty.add(agent.id)
  }

  agent(id: string): Mutable<AgentRow> | undefined {
    return this.agents.get(id)
  }

  /** Agents in registration order. */
  agentList(): Array<Mutable<AgentRow>> {
    return Array.from(this.agents.values()).sort((a, b) => a.seq - b.seq)
  }

  remove(id: string) {
    this.agents.delete(id)
    this.dirty.delete(id)
    this.removed.push(id)
  }

  loanList(): Array<Mutable<LoanRow>> {
    return Array.from(this.loans.values())
  }

  addLoan(lender: string, borrower: string, delta: number) {
    const key = loanKey(lender, borrower)
    const loan = this.loans.get(key) ?? { lender, borrower, amount: 0 }
    loan.amount += delta
    this.loans.set(key, loan)
    this.dirtyLoans.add(key)
  }

  cancelLoans() {
    this.loans.clear()
    this.dirtyLoans.clear()
    this.clearLoans = true
  }

  lent(id: string): number {
    let n = 0
    for (const loan of this.loans.values()) if (loan.lender === id) n += loan.amount
    return n
  }

  borrowed(id: string): number {
    let n = 0
    for (const loan of this.loans.values()) if (loan.borrower === id) n += loan.amount
    return n
  }

  /** The current state of a reservation named by the operation (after this transaction's expiries). */
  target(): ReservationRow | undefined {
    const target = this.snapshot.target
    return target === undefined ? undefined : this.settled.get(target.id) ?? target
  }

  settle(row: ReservationRow) {
    this.settled.set(row.id, row)
  }

  write<A>(value: A): Outcome<Result<A>, never> {
    const used = teamUsed(this.team, this.agents.values())
    if (this.team.used !== used) {
      this.team.used = used
      this.teamDirty = true
    }
    const loans: Array<LoanRow> = []
    for (const key of this.dirtyLoans) {
      const loan = this.loans.get(key)
      if (loan !== undefined) loans.push({ ...loan })
    }
    const agents = Array.from(this.dirty, (id) => ({ ...this.agents.get(id)! }))
    const changes: Changes = {
      team: this.teamDirty ? { ...this.team } : undefined,
      agents,
      removedAgents: this.removed,
      loans,
      clearLoans: this.clearLoans,
      reservation: this.reservation,
      settled: Array.from(this.settled.values()),
      transfers: this.transfers,
      history: this.history
    }
    return {
      _tag: "Write",
      changes,
      result: {
        value,
        report: {
          team: { ...this.team },
          teamUsed: used,
          agents,
          transfers: this.transfers,
          overages: this.overages,
          expired: this.expiredCount
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Figures

export const remainingOf = (agent: AgentRow): number => agent.allocated - agent.used - agent.reserved

/** What the team has left: its total less what is used (by any agent, removed ones included) and reserved. */
export const teamRemaining = (team: TeamRow, agents: Iterable<AgentRow>): number => {
  let n = team.total - team.retiredUsed
  for (const agent of agents) n -= agent.used + agent.reserved
  return Math.max(0, n)
}

export const teamUsed = (team: TeamRow, agents: Iterable<AgentRow>): number => {
  let n = team.retiredUsed
  for (const agent of agents) n += agent.used
  return n
}

// ---------------------------------------------------------------------------
// Weighted allocation

/**
 * Shares `pool` tokens among agents by weight, each between a lower and an
 * upper bound (integers): `a_i = clamp(λ·w_i, lower_i, upper_i)` with λ such
 * that the sum is the pool (or every agent at its upper bound when their sum
 * is below the pool). Rounding down, then the leftover tokens one by one by
 * largest fraction (ties by order), so the sum is exact. Requires
 * `Σ lower ≤ pool`.
 */
export const waterFill = (
  pool: number,
  items: ReadonlyArray<{ readonly weight: number; readonly lower: number; readonly upper: number }>
): Array<number> => {
  const n = items.length
  if (n === 0) return []
  let sumUpper = 0
  for (const item of items) sumUpper += item.upper
  if (sumUpper <= pool) return items.map((item) => item.upper)
  const fill = (lambda: number) => {
    let s = 0
    for (const item of items) s += Math.min(item.upper, Math.max(item.lower, lambda * item.weight))
    return s
  }
  let lo = 0
  let hi = 0
  for (const item of items) hi = Math.max(hi, item.upper / item.weight)
  for (let i = 0; i < 200 && hi - lo > 1e-9 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2
    if (fill(mid) <= pool) lo = mid
    else hi = mid
  }
  const exact = items.map((item) => Math.min(item.upper, Math.max(item.lower, lo * item.weight)))
  const out = exact.map((x) => Math.floor(x))
  let left = pool
  for (const x of out) left -= x
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i)
  while (left > 0) {
    let gave = false
    for (const { i } of order) {
      if (left === 0) break
      if (out[i]! < items[i]!.upper) {
        out[i]!++
        left--
        gave = true
      }
    }
    if (!gave) break
  }
  return out
}

/**
 * Shares the team's pool (its total less what removed agents used this
 * period) among the agents by weight. Only unused allocation moves: an
 * agent never gets less than it has used and reserved; a guaranteed
 * minimum share is honoured as far as others' use allows; a maximum share
 * caps it. Loans (steals) are cancelled: the weighted shares replace them.
 */
export const rebalance = (draft: Draft) => {
  const agents = draft.agentList()
  const total = draft.team.total
  const pool = Math.max(0, total - draft.team.retiredUsed)
  const hard = agents.map((a) => a.used + a.reserved)
  const soft = agents.map((a, i) => Math.max(hard[i]!, Math.floor(a.minShare * total)))
  const upper = agents.map((a, i) => Math.max(soft[i]!, Math.floor(a.maxShare * total)))
  let sumHard = 0
  let sumSoft = 0
  for (let i = 0; i < agents.length; i++) {
    sumHard += hard[i]!
    sumSoft += soft[i]!
  }
  let lower = soft
  if (sumSoft > pool) {
    // The guaranteed minimums cannot all be met beside what others already
    // used: each gets the same fraction of its guarantee above its own use.
    const room = Math.max(0, pool - sumHard)
    const want = sumSoft - sumHard
    lower = agents.map((_, i) => hard[i]! + Math.floor((soft[i]! - hard[i]!) * room / want))
  }
  const shares = waterFill(
    pool,
    agents.map((a, i) => ({ weight: a.weight, lower: lower[i]!, upper: upper[i]! }))
  )
  agents.forEach((agent, i) => {
    if (agent.allocated !== shares[i]) {
      agent.allocated = shares[i]!
      draft.touch(agent)
    }
  })
  if (draft.loanList().length > 0 || draft.snapshot.loans.length > 0) draft.cancelLoans()
}

// ---------------------------------------------------------------------------
// Every transaction starts here

/**
 * Whether `key` names a period that ended before `current` (both keys of one
 * unit: core's Period keys, `YYYY-MM-DD` or `YYYY-MM`, sort as their windows
 * do). An operation whose clock still reads such a period (a process whose
 * clock lags, or a fiber that read its clock just before the boundary) came
 * after the rollover: it counts in the team's current period, which never
 * moves back. Keys of different shapes (the layer's period option changed)
 * roll over as any other change.
 */
export const isEarlierPeriod = (key: string, current: string): boolean =>
  key.length === current.length && key !== "all" && current !== "all" && key < current

/**
 * Expires what the store found expired, rolls the period over, and applies
 * a changed total. Expired reservations return their tokens to their agent
 * (a crashed holder's tokens come back); a new period starts every agent
 * and the team at zero use (history keeps the ended period), carries held
 * reservations over (still counted as reserved) and lets no unused
 * allocation carry over: allocations are recomputed by weight. A period only
 * moves forward (see isEarlierPeriod).
 */
export const prepare = (draft: Draft) => {
  for (const row of draft.snapshot.expired) {
    if (row.state !== "held") continue
    const agent = draft.agent(row.agent)
    if (agent !== undefined) {
      agent.reserved -= row.amount
      draft.touch(agent)
    }
    draft.settle({ ...row, state: "expired", refunded: row.amount })
    draft.expiredCount++
  }
  const team = draft.team
  let again = false
  if (team.periodKey !== draft.settings.periodKey && !isEarlierPeriod(draft.settings.periodKey, team.periodKey)) {
    const agents = draft.agentList()
    let overage = team.retiredOverage
    for (const agent of agents) overage += agent.overage
    draft.history.push({
      period: team.periodKey,
      total: team.total,
      used: teamUsed(team, agents),
      overage,
      steals: team.steals,
      reclaims: team.reclaims,
      endedAt: draft.settings.now
    })
    for (const agent of agents) {
      agent.used = 0
      agent.overage = 0
      draft.touch(agent)
    }
    team.periodKey = draft.settings.periodKey
    team.retiredUsed = 0
    team.retiredOverage = 0
    team.steals = 0
    team.reclaims = 0
    draft.touchTeam()
    again = true
  }
  if (team.total !== draft.settings.total) {
    team.total = draft.settings.total
    draft.touchTeam()
    again = true
  }
  if (again) rebalance(draft)
}

const fail = <E>(error: E): Outcome<never, E> => ({ _tag: "Fail", error })

// ---------------------------------------------------------------------------
// Operations

export const open = (draft: Draft) => draft.write(undefined)

export const register = (
  draft: Draft,
  spec: { readonly id: string; readonly weight: number; readonly minShare: number; readonly maxShare: number }
): Outcome<Result<void>, InvalidInput> => registerAll(draft, [spec])

/**
 * Registers (or re-registers) every agent of `specs`, in order, and
 * rebalances once: O(n log n) for n agents where a `register` per agent is
 * O(n) each. The guaranteed minimum shares are checked over the agents as
 * they would be after all of `specs`; ids are distinct (the service checks).
 */
export const registerAll = (
  draft: Draft,
  specs: ReadonlyArray<
    { readonly id: string; readonly weight: number; readonly minShare: number; readonly maxShare: number }
  >
): Outcome<Result<void>, InvalidInput> => {
  const given = new Map(specs.map((spec) => [spec.id, spec]))
  let minShares = 0
  let seq = 0
  for (const agent of draft.agents.values()) {
    if (!given.has(agent.id)) minShares += agent.minShare
    seq = Math.max(seq, agent.seq + 1)
  }
  for (const spec of specs) minShares += spec.minShare
  if (minShares > 1 + 1e-12) {
    return fail(
      new InvalidInput({
        message: `the agents' guaranteed minimum shares would add up to ${minShares}, above the whole budget (1)`
      })
    )
  }
  for (const spec of specs) {
    const existing = draft.agent(spec.id)
    const agent: Mutable<AgentRow> = existing ?? {
      id: spec.id,
      weight: spec.weight,
      minShare: spec.minShare,
      maxShare: spec.maxShare,
      allocated: 0,
      used: 0,
      reserved: 0,
      overage: 0,
      lastActivity: draft.settings.now,
      seq: seq++
    }
    agent.weight = spec.weight
    agent.minShare = spec.minShare
    agent.maxShare = spec.maxShare
    draft.agents.set(agent.id, agent)
    draft.touch(agent)
  }
  rebalance(draft)
  return draft.write(undefined)
}

export const remove = (draft: Draft, id: string): Outcome<Result<void>, UnknownAgent | AgentBusy> => {
  const agent = draft.agent(id)
  if (agent === undefined) return fail(new UnknownAgent({ agent: id }))
  if (agent.reserved > 0) return fail(new AgentBusy({ agent: id, reserved: agent.reserved }))
  // What it used stays counted against the total for the rest of the period.
  draft.team.retiredUsed += agent.used
  draft.team.retiredOverage += agent.overage
  draft.touchTeam()
  draft.remove(id)
  rebalance(draft)
  return draft.write(undefined)
}

/** The lender takes back what its borrowers have neither used nor reserved. */
const reclaim = (draft: Draft, lender: Mutable<AgentRow>) => {
  for (const loan of draft.loanList()) {
    if (loan.lender !== lender.id || loan.amount <= 0) continue
    const borrower = draft.agent(loan.borrower)
    if (borrower === undefined) continue
    const amount = Math.min(loan.amount, remainingOf(borrower))
    if (amount <= 0) continue
    borrower.allocated -= amount
    lender.allocated += amount
    draft.touch(borrower)
    draft.touch(lender)
    draft.addLoan(lender.id, borrower.id, -amount)
    draft.team.reclaims += amount
    draft.touchTeam()
    draft.transfers.push({ kind: "reclaim", from: borrower.id, to: lender.id, amount, at: draft.settings.now })
  }
}

/**
 * Takes up to `need` tokens from idle agents: idle longest first, then
 * lowest weight, then registration order. A donor gives at most `donorShare`
 * of what it has left, and never goes below its use, its reservations or its
 * guaranteed minimum; the borrower never goes above its maximum share.
 */
const steal = (draft: Draft, borrower: Mutable<AgentRow>, need: number) => {
  const { donorShare, idleAfterMillis, now } = draft.settings
  const total = draft.team.total
  let room = Math.floor(borrower.maxShare * total) - borrower.allocated
  const donors = draft.agentList()
    .filter((a) => a.id !== borrower.id && now - a.lastActivity >= idleAfterMillis)
    .sort((a, b) => a.lastActivity - b.lastActivity || a.weight - b.weight || a.seq - b.seq)
  for (const donor of donors) {
    if (need <= 0 || room <= 0) break
    const floor = Math.max(donor.used + donor.reserved, Math.floor(donor.minShare * total))
    const give = Math.min(need, room, Math.floor(remainingOf(donor) * donorShare), donor.allocated - floor)
    if (give <= 0) continue
    donor.allocated -= give
    borrower.allocated += give
    draft.touch(donor)
    draft.touch(borrower)
    draft.addLoan(donor.id, borrower.id, give)
    draft.team.steals += give
    draft.touchTeam()
    draft.transfers.push({ kind: "steal", from: donor.id, to: borrower.id, amount: give, at: now })
    need -= give
    room -= give
  }
}

/**
 * Finds `tokens` for `agent`: first what it has left (the limit is
 * inclusive: an agent with exactly N left is granted N), after reclaiming
 * what it lent; then steals from idle agents; then, when `partial`, whatever
 * it has. Returns the amount granted, or the exhausted scope.
 */
const obtain = (
  draft: Draft,
  agentId: string,
  tokens: number,
  partial: boolean
): number | UnknownAgent | BudgetExhausted => {
  const agent = draft.agent(agentId)
  if (agent === undefined) return new UnknownAgent({ agent: agentId })
  agent.lastActivity = draft.settings.now
  draft.touch(agent)
  reclaim(draft, agent)
  if (Reservation.fits(agent.allocated, agent.used + agent.reserved, tokens)) return tokens
  steal(draft, agent, tokens - remainingOf(agent))
  const left = remainingOf(agent)
  if (Reservation.fits(agent.allocated, agent.used + agent.reserved, tokens)) return tokens
  if (partial && left > 0) return left
  const team = teamRemaining(draft.team, draft.agents.values())
  return team < tokens
    ? new BudgetExhausted({ scope: "team", agent: agentId, requested: tokens, remaining: team })
    : new BudgetExhausted({ scope: "agent", agent: agentId, requested: tokens, remaining: left })
}

export const request = (
  draft: Draft,
  agentId: string,
  tokens: number,
  partial: boolean
): Outcome<Result<number>, UnknownAgent | BudgetExhausted> => {
  const granted = obtain(draft, agentId, tokens, partial)
  if (typeof granted !== "number") return fail(granted)
  const agent = draft.agent(agentId)!
  agent.used += granted
  return draft.write(granted)
}

export const reserve = (
  draft: Draft,
  id: string,
  agentId: string,
  tokens: number,
  partial: boolean,
  ttlMillis: number | null
): Outcome<Result<number>, UnknownAgent | BudgetExhausted> => {
  const granted = obtain(draft, agentId, tokens, partial)
  if (typeof granted !== "number") return fail(granted)
  const agent = draft.agent(agentId)!
  agent.reserved += granted
  draft.reservation = { id, agent: agentId, requested: tokens, amount: granted, ttlMillis }
  return draft.write(granted)
}

const settlementOf = (row: ReservationRow, repeated: boolean): Settlement => ({
  id: row.id,
  agent: row.agent,
  state: row.state,
  reserved: row.amount,
  actual: row.actual,
  charged: row.charged,
  refunded: row.refunded,
  overage: row.overage,
  repeated
})

/**
 * Charges a reservation's actual usage: from the reservation first, then
 * from what the agent has left; what neither covers is overage (recorded on
 * the agent, never charged past its allocation). A reservation that expired
 * already returned its tokens: its usage is charged from what is left.
 */
export const commit = (
  draft: Draft,
  id: string,
  actual: number
): Outcome<Result<Settlement>, ReservationNotFound> => {
  const row = draft.target()
  if (row === undefined) return fail(new ReservationNotFound({ id }))
  if (row.state === "committed" || row.state === "released") return draft.write(settlementOf(row, true))
  const held = row.state === "held" ? row.amount : 0
  const agent = draft.agent(row.agent)
  let charged = 0
  let overage = 0
  if (agent === undefined) {
    // Removed after its reservation expired: nothing of the team is left to charge.
    overage = actual
    draft.team.retiredOverage += overage
    draft.touchTeam()
  } else {
    const settlement = Reservation.settle(held, actual)
    agent.reserved -= held
    agent.used += actual - settlement.overage
    const fromAgent = Math.min(settlement.overage, remainingOf(agent))
    agent.used += fromAgent
    charged = actual - settlement.overage + fromAgent
    overage = settlement.overage - fromAgent
    agent.overage += overage
    agent.lastActivity = draft.settings.now
    draft.touch(agent)
  }
  if (overage > 0) draft.overages.push({ agent: row.agent, reservation: id, tokens: overage })
  const settled: ReservationRow = {
    ...row,
    state: "committed",
    actual,
    charged,
    refunded: held - Math.min(held, actual),
    overage
  }
  draft.settle(settled)
  return draft.write(settlementOf(settled, false))
}

export const release = (draft: Draft, id: string): Outcome<Result<Settlement>, ReservationNotFound> => {
  const row = draft.target()
  if (row === undefined) return fail(new ReservationNotFound({ id }))
  if (row.state !== "held") return draft.write(settlementOf(row, true))
  const agent = draft.agent(row.agent)
  if (agent !== undefined) {
    agent.reserved -= row.amount
    draft.touch(agent)
  }
  const settled: ReservationRow = { ...row, state: "released", refunded: row.amount }
  draft.settle(settled)
  return draft.write(settlementOf(settled, false))
}

/** Checks the invariants of a state; the description of the first broken one, or undefined. */
export const checkInvariants = (
  team: TeamRow,
  agents: ReadonlyArray<AgentRow>
): string | undefined => {
  let allocated = 0
  let used = team.retiredUsed
  for (const a of agents) {
    if (a.used < 0 || a.reserved < 0) return `agent ${a.id}: negative used or reserved`
    if (a.used + a.reserved > a.allocated) {
      return `agent ${a.id}: used ${a.used} + reserved ${a.reserved} > allocated ${a.allocated}`
    }
    allocated += a.allocated
    used += a.used
  }
  if (allocated + team.retiredUsed > team.total) {
    return `allocations ${allocated} + retired ${team.retiredUsed} exceed the total ${team.total}`
  }
  if (used > team.total) return `used ${used} exceeds the total ${team.total}`
  return undefined
}
