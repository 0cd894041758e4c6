/**
 * The spend ledger's store contract in memory (one process), judged by
 * `Clock`. Every method runs synchronously, so each is atomic.
 */
import * as Reservation from "@agentos/core/Reservation"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Store from "./store.js"

interface ScopeRow {
  spent: number
  reserved: number
  overage: number
  calls: number
}

interface Held {
  readonly id: string
  readonly model: string
  readonly amount: number
  readonly parts: ReadonlyArray<{ readonly scope: string; readonly period: string }>
  readonly expiresAt: number
  state: "open" | "settled" | "expired" | "cancelled"
  charged: number
  overage: number
  reference: number
  estimated: boolean
}

type Usage = { -readonly [K in keyof Store.UsageRow]: Store.UsageRow[K] }

export const makeMemoryStore = (): Store.Store => {
  const scopes = new Map<string, ScopeRow>()
  const held = new Map<string, Held>()
  /** The reservations still open, in the order they were made (a subset of `held`). */
  const open = new Map<string, Held>()
  /**
   * The usage of every charged reservation (settled or expired, purged or
   * not), per scope and period, then per model: kept as each is charged, so
   * a report reads its scopes' rows and never the reservations.
   */
  const usageOf = new Map<string, Map<string, Usage>>()
  /** Claimed threshold alerts, by scope, period and percent. */
  const claimed = new Set<string>()
  const key = (scope: string, period: string) => `${scope}\u0000${period}`
  const row = (scope: string, period: string): ScopeRow => {
    const k = key(scope, period)
    let r = scopes.get(k)
    if (r === undefined) {
      r = { spent: 0, reserved: 0, overage: 0, calls: 0 }
      scopes.set(k, r)
    }
    return r
  }
  // Called once a reservation is settled or expired, its figures final.
  const recordUsage = (h: Held) => {
    const seen = new Set<string>()
    for (const { period, scope } of h.parts) {
      const k = key(scope, period)
      // a reservation counts once in a scope's usage, however many of its parts name it
      if (seen.has(k)) continue
      seen.add(k)
      let byModel = usageOf.get(k)
      if (byModel === undefined) usageOf.set(k, byModel = new Map())
      const u = byModel.get(h.model)
      if (u === undefined) {
        byModel.set(h.model, {
          model: h.model,
          calls: 1,
          spent: h.charged,
          overage: h.overage,
          reference: h.reference,
          estimatedCalls: h.estimated ? 1 : 0
        })
      } else {
        u.calls += 1
        u.spent += h.charged
        u.overage += h.overage
        u.reference += h.reference
        u.estimatedCalls += h.estimated ? 1 : 0
      }
    }
  }
  const charge = (h: Held, charged: number, overage: number): Array<Store.SpendMove> => {
    open.delete(h.id)
    recordUsage(h)
    return h.parts.map(({ period, scope }) => {
      const r = row(scope, period)
      const before = r.spent
      r.spent += charged
      r.reserved -= h.amount
      r.overage += overage
      r.calls += 1
      return { scope, period, before, after: r.spent }
    })
  }
  const expireOne = (h: Held): Array<Store.SpendMove> => {
    h.state = "expired"
    h.charged = h.amount
    // No usage is known: the reference is taken as what was charged (no saving claimed).
    h.reference = h.amount
    return charge(h, h.amount, 0)
  }
  return {
    reserve: (input) =>
      Effect.map(Clock.currentTimeMillis, (now): Store.ReserveOutcome => {
        for (const part of input.parts) {
          const r = row(part.scope, part.period)
          if (!Reservation.fits(part.limit, r.spent + r.reserved, input.amount)) {
            return {
              _tag: "Exceeded",
              scope: part.scope,
              period: part.period,
              limit: part.limit,
              committed: r.spent + r.reserved
            }
          }
        }
        for (const part of input.parts) row(part.scope, part.period).reserved += input.amount
        const expiresAt = now + input.ttlMillis
        const h: Held = {
          id: input.id,
          model: input.model,
          amount: input.amount,
          parts: input.parts.map(({ period, scope }) => ({ scope, period })),
          expiresAt,
          state: "open",
          charged: 0,
          overage: 0,
          reference: 0,
          estimated: false
        }
        held.set(input.id, h)
        open.set(input.id, h)
        return { _tag: "Reserved", expiresAt }
      }),
    settle: (id, input) =>
      Effect.map(Clock.currentTimeMillis, (now): Store.SettleOutcome => {
        const h = held.get(id)
        if (h === undefined || h.state !== "open") return { _tag: "NotFound" }
        if (Reservation.isExpired(h.expiresAt, now)) return { _tag: "Expired", amount: h.amount, moves: expireOne(h) }
        const settlement = Reservation.settle(h.amount, input.charged)
        h.state = "settled"
        h.charged = settlement.charged
        h.overage = settlement.overage
        h.reference = input.reference
        h.estimated = input.estimated
        return { _tag: "Settled", amount: h.amount, model: h.model, moves: charge(h, h.charged, h.overage) }
      }),
    cancel: (id) =>
      Effect.sync(() => {
        const h = held.get(id)
        if (h === undefined || h.state !== "open") return false
        h.state = "cancelled"
        open.delete(id)
        for (const { period, scope } of h.parts) row(scope, period).reserved -= h.amount
        return true
      }),
    expire: Effect.map(Clock.currentTimeMillis, (now) => {
      const moves: Array<Store.SpendMove> = []
      for (const h of [...open.values()]) {
        if (Reservation.isExpired(h.expiresAt, now)) {
          for (const move of expireOne(h)) moves.push(move)
        }
      }
      return moves
    }),
    purge: (retentionMillis) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        let purged = 0
        for (const [id, h] of held) {
          // its usage stays in `usageOf`
          if (h.state === "open" || h.expiresAt > now - retentionMillis) continue
          held.delete(id)
          purged++
        }
        return purged
      }),
    claimAlerts: (alerts) =>
      Effect.sync(() =>
        alerts.filter((alert) => {
          const k = `${key(alert.scope, alert.period)}\u0000${alert.percent}`
          if (claimed.has(k)) return false
          claimed.add(k)
          return true
        })
      ),
    totals: (scope, period) =>
      Effect.sync(() => {
        const r = scopes.get(key(scope, period))
        return r === undefined ? { spent: 0, reserved: 0, overage: 0, calls: 0 } : { ...r }
      }),
    usage: (scope, period) =>
      Effect.sync(() =>
        [...(usageOf.get(key(scope, period))?.values() ?? [])]
          .map((u): Store.UsageRow => ({ ...u }))
          .sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0))
      )
  }
}
