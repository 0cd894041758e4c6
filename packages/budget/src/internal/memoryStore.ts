// The BudgetLedger contract in memory: one process. A transaction is one
// synchronous step (load, rules, write), so nothing runs between the load
// and the write; expiry is judged by Clock with core's Reservation rule.
import * as Reservation from "@agentos/core/Reservation"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { PeriodSummary, Transfer } from "../Budget.js"
import { type AgentRow, type BudgetLedger, loanKey, type LoanRow, type ReservationRow, type TeamRow } from "./store.js"

export const make = (options: { readonly transferLimit: number }): BudgetLedger => {
  let team: TeamRow | undefined
  const agents = new Map<string, AgentRow>()
  const loans = new Map<string, LoanRow>()
  const reservations = new Map<string, ReservationRow>()
  const held = new Map<string, ReservationRow>()
  // The earliest expiry among held reservations: no scan before it.
  let nextExpiry = Infinity
  const transfers: Array<Transfer> = []
  const history: Array<PeriodSummary> = []

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
        const outcome = rules({
          team,
          agents: Array.from(agents.values()),
          loans: Array.from(loans.values()),
          expired: expiredAt(now),
          target: reservationId === undefined ? undefined : reservations.get(reservationId)
        })
        if (outcome._tag === "Fail") return Effect.fail(outcome.error)
        const changes = outcome.changes
        if (changes.team !== undefined) team = changes.team
        for (const agent of changes.agents) agents.set(agent.id, agent)
        for (const id of changes.removedAgents) agents.delete(id)
        if (changes.clearLoans) loans.clear()
        for (const loan of changes.loans) {
          if (loan.amount > 0) loans.set(loanKey(loan.lender, loan.borrower), loan)
          else loans.delete(loanKey(loan.lender, loan.borrower))
        }
        for (const row of changes.settled) {
          reservations.set(row.id, row)
          held.delete(row.id)
        }
        let expiresAt: number | null = null
        const added = changes.reservation
        if (added !== undefined) {
          expiresAt = added.ttlMillis === null ? null : now + added.ttlMillis
          const row: ReservationRow = {
            id: added.id,
            agent: added.agent,
            requested: added.requested,
            amount: added.amount,
            state: "held",
            expiresAt,
            actual: 0,
            charged: 0,
            refunded: 0,
            overage: 0
          }
          reservations.set(row.id, row)
          held.set(row.id, row)
          if (expiresAt !== null) nextExpiry = Math.min(nextExpiry, expiresAt)
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

  const view: BudgetLedger["view"] = (transferLimit) =>
    Effect.sync(() => ({
      team,
      agents: Array.from(agents.values()),
      loans: Array.from(loans.values()),
      held: held.size,
      transfers: transfers.slice(Math.max(0, transfers.length - transferLimit)).reverse(),
      history: [...history]
    }))

  return { transact, view }
}
