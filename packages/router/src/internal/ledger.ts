/**
 * The spend ledger's rules, written once over the store contract: budgets
 * and their periods, reservation ids and expiry, settlements, alerts and the
 * budget report.
 */
import * as IdGenerator from "@agentos/core/IdGenerator"
import type * as Money from "@agentos/core/Money"
import * as Period from "@agentos/core/Period"
import * as Reservation from "@agentos/core/Reservation"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidInput, ReservationExpired, ReservationNotFound, SpendLimitExceeded } from "../Errors.js"
import type * as Spend from "../Spend.js"
import type * as SpendLedger from "../SpendLedger.js"
import * as metrics from "./metrics.js"
import type { Resolved } from "./options.js"
import type * as Store from "./store.js"

const money = (n: number) => n as Money.Money

export const make = (
  store: Store.Store,
  options: Resolved
): Effect.Effect<SpendLedger.SpendLedgerService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ids = Option.getOrElse(yield* Effect.serviceOption(IdGenerator.IdGenerator), () => IdGenerator.makeUlid)
    const budgets = new Map(options.budgets.map((b) => [b.scope, b]))
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Spend.SpendAlert>(), PubSub.shutdown)

    // Threshold alerts this ledger claimed or found claimed, per scope, for
    // the scope's latest period seen. A threshold is claimed from the store
    // by the first settlement (in any process) that finds the scope's spend
    // at or past it, so each fires once per scope, period and percent across
    // every ledger on the store, even when their limits differ; the store is
    // asked at most once per threshold and period in each process.
    const known = new Map<string, { readonly period: string; readonly percents: Set<number> }>()

    const publishMoves = (moves: ReadonlyArray<Store.SpendMove>) => {
      let found: Array<Store.AlertKey & { readonly spent: number; readonly limit: Money.Money }> | undefined
      for (const move of moves) {
        const budget = budgets.get(move.scope)
        if (budget === undefined || budget.limit <= 0) continue
        for (const percent of options.alertPercents) {
          if (move.after < Math.ceil((budget.limit * percent) / 100)) break
          let seen = known.get(move.scope)
          if (seen === undefined || seen.period !== move.period) {
            seen = { period: move.period, percents: new Set() }
            known.set(move.scope, seen)
          }
          if (seen.percents.has(percent)) continue
          seen.percents.add(percent)
          ;(found ??= []).push({
            scope: move.scope,
            period: move.period,
            percent,
            spent: move.after,
            limit: budget.limit
          })
        }
      }
      if (found === undefined) return Effect.void
      const crossings = found
      // Should the claim fail, the settlement has happened: the alerts are
      // published here rather than lost (at worst twice across processes).
      return store.claimAlerts(crossings.map(({ percent, period, scope }) => ({ scope, period, percent }))).pipe(
        Effect.map((won) =>
          crossings.filter((c) =>
            won.some((w) => w.scope === c.scope && w.period === c.period && w.percent === c.percent)
          )
        ),
        Effect.orElseSucceed(() => crossings),
        Effect.flatMap((out) =>
          PubSub.publishAll(
            pubsub,
            out.map((c): Spend.SpendAlert => ({
              _tag: "ThresholdCrossed",
              scope: c.scope,
              period: c.period,
              percent: c.percent,
              spent: money(c.spent),
              limit: c.limit
            }))
          )
        )
      )
    }

    const budgetOf = (scope: string) => {
      const budget = budgets.get(scope)
      return budget === undefined
        ? Effect.fail(new InvalidInput({ message: `no budget is configured for the spend scope "${scope}"` }))
        : Effect.succeed(budget)
    }

    const reserve = (input: SpendLedger.ReserveInput) =>
      Effect.gen(function*() {
        if (!Number.isSafeInteger(input.amount) || input.amount < 0) {
          return yield* new InvalidInput({ message: `a reservation must be a non-negative integer of micro-dollars` })
        }
        const scopes = [...new Set(input.scopes)].sort()
        if (scopes.length === 0) return yield* new InvalidInput({ message: "a reservation needs a spend scope" })
        const now = yield* Clock.currentTimeMillis
        const parts: Array<Store.PartInput & { readonly window: Period.Window }> = []
        for (const scope of scopes) {
          const budget = yield* budgetOf(scope)
          const window = Period.windowAt(budget.period, now)
          if (input.amount > budget.limit) {
            return yield* new SpendLimitExceeded({
              scope,
              period: window.key,
              limit: budget.limit,
              committed: 0,
              remaining: budget.limit,
              requested: input.amount,
              retryAfterMillis: Period.untilReset(window, now)
            })
          }
          parts.push({ scope, period: window.key, limit: budget.limit, window })
        }
        const id = yield* ids.next
        const outcome = yield* store.reserve({
          id,
          model: input.model,
          amount: input.amount,
          inputTokens: input.inputTokens,
          maxOutputTokens: input.maxOutputTokens,
          parts,
          ttlMillis: options.reservationTtlMillis
        })
        if (outcome._tag === "Exceeded") {
          yield* Metric.increment(metrics.refused)
          const part = parts.find((p) => p.scope === outcome.scope)!
          return yield* new SpendLimitExceeded({
            scope: outcome.scope,
            period: outcome.period,
            limit: outcome.limit,
            committed: outcome.committed,
            remaining: Math.max(0, outcome.limit - outcome.committed),
            requested: input.amount,
            retryAfterMillis: Period.untilReset(part.window, now)
          })
        }
        yield* Metric.increment(metrics.reserved)
        const reservation: Spend.Reservation = {
          id,
          scopes: parts.map(({ period, scope }) => ({ scope, period })),
          model: input.model,
          amount: money(input.amount),
          inputTokens: input.inputTokens,
          maxOutputTokens: input.maxOutputTokens,
          expiresAt: outcome.expiresAt
        }
        return reservation
      })

    const settle = (id: string, actual: SpendLedger.Actual) =>
      Effect.gen(function*() {
        if (!Number.isSafeInteger(actual.charged) || actual.charged < 0) {
          return yield* new InvalidInput({ message: "a charge must be a non-negative integer of micro-dollars" })
        }
        const outcome = yield* store.settle(id, {
          charged: actual.charged,
          reference: actual.reference ?? actual.charged,
          estimated: actual.estimated ?? false
        })
        switch (outcome._tag) {
          case "NotFound":
            return yield* new ReservationNotFound({ id })
          case "Expired": {
            yield* Metric.incrementBy(metrics.expired, outcome.moves.length)
            yield* publishMoves(outcome.moves)
            return yield* new ReservationExpired({ id, charged: outcome.amount })
          }
          case "Settled": {
            const s = Reservation.settle(outcome.amount, actual.charged)
            yield* Metric.increment(metrics.settled)
            yield* Metric.incrementBy(metrics.charged, s.charged)
            if (s.overage > 0) yield* Metric.incrementBy(metrics.overage, s.overage)
            yield* publishMoves(outcome.moves)
            if (s.overage > 0) {
              yield* Effect.forEach(outcome.moves, (move) =>
                PubSub.publish(pubsub, {
                  _tag: "OverageRecorded",
                  scope: move.scope,
                  period: move.period,
                  reservationId: id,
                  model: outcome.model,
                  overage: money(s.overage)
                }), { discard: true })
            }
            const settlement: Spend.Settlement = {
              id,
              charged: money(s.charged),
              refunded: money(s.refunded),
              overage: money(s.overage),
              estimated: actual.estimated ?? false
            }
            return settlement
          }
        }
      })

    const cancel = (id: string) =>
      Effect.flatMap(
        store.cancel(id),
        (found) => found ? Effect.void : Effect.fail(new ReservationNotFound({ id }))
      )

    const expire = Effect.flatMap(
      store.expire,
      (moves) =>
        Effect.as(
          Effect.zipRight(Metric.incrementBy(metrics.expired, moves.length), publishMoves(moves)),
          moves.length
        )
    ).pipe(Effect.withSpan("SpendLedger.expire"))

    const purge = store.purge(options.retentionMillis).pipe(Effect.withSpan("SpendLedger.purge"))

    const statusAt = (budget: Spend.Budget, now: number) =>
      Effect.gen(function*() {
        const window = Period.windowAt(budget.period, now)
        const totals = yield* store.totals(budget.scope, window.key)
        const status: Spend.ScopeStatus = {
          scope: budget.scope,
          period: window.key,
          limit: budget.limit,
          spent: money(totals.spent),
          reserved: money(totals.reserved),
          remaining: money(Math.max(0, budget.limit - totals.spent - totals.reserved)),
          overage: money(totals.overage),
          calls: totals.calls,
          resetsAt: window.end
        }
        return { status, window }
      })

    const status = (scope: string) =>
      Effect.gen(function*() {
        const budget = yield* budgetOf(scope)
        const now = yield* Clock.currentTimeMillis
        return (yield* statusAt(budget, now)).status
      })

    const remaining = (scopes: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        let least: number | undefined
        for (const scope of scopes) {
          const s = yield* status(scope)
          if (least === undefined || s.remaining < least) least = s.remaining
        }
        return least === undefined ? undefined : money(least)
      })

    const report = (reportOptions: { readonly at?: number } = {}) =>
      Effect.gen(function*() {
        yield* expire
        const clockNow = yield* Clock.currentTimeMillis
        const now = reportOptions.at ?? clockNow
        const scopes: Array<Spend.ScopeReport> = []
        for (const budget of options.budgets) {
          const { status: s, window } = yield* statusAt(budget, now)
          const rows = yield* store.usage(budget.scope, window.key)
          // A past period is complete: its projection is what it spent.
          const elapsed = Math.min(clockNow, window.end) - window.start
          const byModel = rows.map((row): Spend.ModelSpend => ({
            model: row.model,
            calls: row.calls,
            spent: money(row.spent),
            overage: money(row.overage),
            reference: money(row.reference),
            saving: money(row.reference - row.spent),
            estimatedCalls: row.estimatedCalls
          }))
          scopes.push({
            ...s,
            utilisation: s.limit > 0 ? s.spent / s.limit : 0,
            projected: money(elapsed > 0 ? Math.ceil((s.spent * Period.length(window)) / elapsed) : s.spent),
            byModel,
            saving: money(byModel.reduce((sum, m) => sum + m.saving, 0))
          })
        }
        const result: Spend.BudgetReport = { at: now, scopes }
        return result
      }).pipe(Effect.withSpan("SpendLedger.report"))

    if (options.sweepIntervalMillis > 0) {
      yield* Effect.forkScoped(
        Effect.zipRight(expire, purge).pipe(
          Effect.catchAll((error) => Effect.logWarning("router: sweeping expired reservations failed", error)),
          Effect.repeat(Schedule.spaced(options.sweepIntervalMillis))
        )
      )
    }

    const service: SpendLedger.SpendLedgerService = {
      budgets: options.budgets,
      reserve,
      settle,
      cancel,
      expire,
      purge,
      status,
      remaining,
      report,
      alerts: Stream.fromPubSub(pubsub),
      subscribe: Effect.map(PubSub.subscribe(pubsub), (dequeue) => Stream.fromQueue(dequeue))
    }
    return service
  })
