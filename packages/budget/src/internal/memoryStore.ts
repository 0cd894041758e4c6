// The BudgetLedger contract in memory: one process. A transaction is one
// synchronous step (load, rules, write), so nothing runs between the load
// and the write; expiry is judged by Clock with core's Reservation rule.
// The fast paths are synchronous steps too, and touch one agent's row, the
// team's use and one reservation: O(1) whatever the number of agents.
import * as Reservation from "@agentos/core/Reservation"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { PeriodSummary, Transfer } from "../Budget.js"
import {
  type AgentRow,
  type BudgetLedger,
  type FastGuard,
  loanKey,
  type LoanRow,
  type ReservationRow,
  type TeamRow
} from "./store.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A reservation as this store keeps it: with when it was last settled. */
type Kept = Mutable<ReservationRow> & { settledAt?: number }

export const make = (
  options: { readonly transferLimit: number; readonly settlementRetentionMillis: number }
): BudgetLedger => {
  // Rows are kept mutable here and copied whenever they leave the store
  // (the rules copy what they load; view copies).
  let team: Mutable<TeamRow> | undefined
  const agents = new Map<string, Mutable<AgentRow>>()
  const loans = new Map<string, LoanRow>()
  const reservations = new Map<string, Kept>()
  const held = new Map<string, Kept>()
  // The earliest expiry among held reservations: no scan before it.
  let nextExpiry = Infinity
  const transfers: Array<Transfer> = []
  const history: Array<PeriodSummary> = []
  // Settled reservations in the order they were settled, with when: each is
  // forgotten once its retention has passed (amortised O(1) per settlement).
  let settledIds: Array<string> = []
  let settledAts: Array<number> = []
  let settledHead = 0
  const settled = (row: Kept, at: number) => {
    row.settledAt = at
    settledIds.push(row.id)
    settledAts.push(at)
  }
  /** Forgets the settlements whose retention has passed by `now`. */
  const forget = (now: number) => {
    const retention = options.settlementRetentionMillis
    while (settledHead < settledIds.length && settledAts[settledHead]! + retention <= now) {
      const id = settledIds[settledHead]!
      const row = reservations.get(id)
      // A reservation settled again since (a commit after its expiry) stays for its latest settlement.
      if (row !== undefined && row.state !== "held" && row.settledAt === settledAts[settledHead]) {
        reservations.delete(id)
      }
      settledHead++
    }
    if (settledHead > 1024 && settledHead * 2 > settledIds.length) {
      settledIds = settledIds.slice(settledHead)
      settledAts = settledAts.slice(settledHead)
      settledHead = 0
    }
  }

  const expiredAt = (now: number): Array<ReservationRow> => {
    if (now < nextExpiry) return []
    const out: Array<ReservationRow> = []
    let next = Infinity
    for (const row of held.values()) {
      if (row.expiresAt === null) continue
      if (Reservation.isExpired(row.expiresAt, now)) out.push(row)
      else next = Math.min(next, row.expiresAt)
    }
    nextExpiry = next
    return out
  }

  const transact: BudgetLedger["transact"] = (_operation, reservationId, rules) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        forget(now)
        // expiredAt moves nextExpiry past what it finds; a refused operation
        // writes nothing (its expiries included), so it puts nextExpiry back
        // for the next transaction to find them again.
        const expiryBefore = nextExpiry
        const outcome = rules({
          team,
          agents: Array.from(agents.values()),
          loans: Array.from(loans.values()),
          expired: expiredAt(now),
          target: reservationId === undefined ? undefined : reservations.get(reservationId)
        })
        if (outcome._tag === "Fail") {
          nextExpiry = expiryBefore
          return Effect.fail(outcome.error)
        }
        const changes = outcome.changes
        if (changes.team !== undefined) team = { ...changes.team }
        for (const agent of changes.agents) agents.set(agent.id, { ...agent })
        for (const id of changes.removedAgents) agents.delete(id)
        if (changes.clearLoans) loans.clear()
        for (const loan of changes.loans) {
          if (loan.amount > 0) loans.set(loanKey(loan.lender, loan.borrower), loan)
          else loans.delete(loanKey(loan.lender, loan.borrower))
        }
        for (const row of changes.settled) {
          const kept: Kept = { ...row }
          reservations.set(row.id, kept)
          held.delete(row.id)
          settled(kept, now)
        }
        let expiresAt: number | null = null
        const added = changes.reservation
        if (added !== undefined) {
          expiresAt = added.ttlMillis === null ? null : now + added.ttlMillis
          keepHeld(added.id, added.agent, added.requested, added.amount, expiresAt)
        }
        for (const transfer of changes.transfers) transfers.push(transfer)
        if (transfers.length > options.transferLimit) transfers.splice(0, transfers.length - options.transferLimit)
        for (const summary of changes.history) history.push(summary)
        // A new period forgets the settlements of the last one.
        if (changes.history.length > 0) {
          for (const [id, row] of reservations) if (row.state !== "held") reservations.delete(id)
        }
        return Effect.succeed({ result: outcome.result, expiresAt })
      }))

  /** Keeps a new held reservation, and its expiry as the next one when it is sooner. */
  const keepHeld = (id: string, agent: string, requested: number, amount: number, expiresAt: number | null) => {
    const row: Kept = {
      id,
      agent,
      requested,
      amount,
      state: "held",
      expiresAt,
      actual: 0,
      charged: 0,
      refunded: 0,
      overage: 0
    }
    reservations.set(id, row)
    held.set(id, row)
    if (expiresAt !== null && expiresAt < nextExpiry) nextExpiry = expiresAt
  }

  /** The team, when the guard holds and no held reservation may have expired. */
  const guarded = (guard: FastGuard): Mutable<TeamRow> | undefined =>
    team !== undefined && team.periodKey === guard.periodKey && team.total === guard.total &&
      guard.now < nextExpiry
      ? team
      : undefined

  const lends = (agent: string): boolean => {
    if (loans.size === 0) return false
    for (const loan of loans.values()) if (loan.lender === agent && loan.amount > 0) return true
    return false
  }

  const reserveFast: BudgetLedger["reserveFast"] = (input) =>
    Effect.sync(() => {
      const t = guarded(input)
      if (t === undefined) return undefined
      const agent = agents.get(input.agent)
      if (agent === undefined || lends(agent.id)) return undefined
      if (!Reservation.fits(agent.allocated, agent.used + agent.reserved, input.tokens)) return undefined
      const expiresAt = input.ttlMillis === null ? null : input.now + input.ttlMillis
      agent.reserved += input.tokens
      agent.lastActivity = input.now
      keepHeld(input.id, agent.id, input.tokens, input.tokens, expiresAt)
      return {
        agent: agent.id,
        used: agent.used,
        allocated: agent.allocated,
        teamUsed: t.used,
        amount: input.tokens,
        expiresAt
      }
    })

  const commitFast: BudgetLedger["commitFast"] = (input) =>
    Effect.sync(() => {
      const t = guarded(input)
      if (t === undefined) return undefined
      const row = held.get(input.id)
      if (row === undefined || row.amount <= 0) return undefined
      if (row.expiresAt !== null && Reservation.isExpired(row.expiresAt, input.now)) return undefined
      const agent = agents.get(row.agent)
      if (agent === undefined) return undefined
      // Using more than was held is charged in full when the agent's allocation has room for the
      // rest (no overage): what the rules would do. Otherwise the rules decide.
      if (input.actual > row.amount && agent.allocated - agent.used - agent.reserved < input.actual - row.amount) {
        return undefined
      }
      agent.used += input.actual
      agent.reserved -= row.amount
      agent.lastActivity = input.now
      t.used += input.actual
      // The row is this store's own (the rules copy what they settle): settled in place.
      row.state = "committed"
      row.actual = input.actual
      row.charged = input.actual
      row.refunded = row.amount - Math.min(row.amount, input.actual)
      held.delete(row.id)
      settled(row, input.now)
      forget(input.now)
      return {
        agent: agent.id,
        used: agent.used,
        allocated: agent.allocated,
        teamUsed: t.used,
        amount: row.amount,
        expiresAt: row.expiresAt
      }
    })

  // Claimed alerts of the latest period claimed.
  let claimedPeriod: string | undefined
  const claimed = new Set<string>()
  const claimAlerts: BudgetLedger["claimAlerts"] = (period, keys) =>
    Effect.sync(() => {
      if (period !== claimedPeriod) {
        claimed.clear()
        claimedPeriod = period
      }
      const won: Array<string> = []
      for (const key of keys) {
        if (claimed.has(key)) continue
        claimed.add(key)
        won.push(key)
      }
      return won
    })

  const view: BudgetLedger["view"] = (transferLimit) =>
    Effect.sync(() => ({
      team: team === undefined ? undefined : { ...team },
      agents: Array.from(agents.values(), (agent) => ({ ...agent })),
      loans: Array.from(loans.values()),
      held: held.size,
      transfers: transfers.slice(Math.max(0, transfers.length - transferLimit)).reverse(),
      history: [...history]
    }))

  return { transact, reserveFast, commitFast, claimAlerts, view }
}
