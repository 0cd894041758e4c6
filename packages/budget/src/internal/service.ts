// The token budget's service, written once over the BudgetLedger contract:
// validation, ids, the period key from Clock, the rules inside the store's
// transaction, then metrics and alerts from what the rules report.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Period from "@agentos/core/Period"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  AgentSpec,
  type AgentStatus,
  type Alert,
  type Dashboard,
  type Reservation,
  type Settlement
} from "../Budget.js"
import {
  type BudgetExhausted,
  InvalidInput,
  type ReservationNotFound,
  type StoreError,
  UnknownAgent
} from "../Errors.js"
import type * as TokenBudget from "../TokenBudget.js"
import * as Metrics from "./metrics.js"
import * as Options from "./options.js"
import * as Rules from "./rules.js"
import type { AgentRow, BudgetLedger, FastOutcome, LoanRow, Outcome } from "./store.js"

const tokensOf = (name: string, value: unknown): Either.Either<number, InvalidInput> =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0
    ? Either.right(value)
    : Either.left(new InvalidInput({ message: `${name} must be a non-negative safe integer, got ${String(value)}` }))

const idOf = (name: string, value: unknown): Either.Either<string, InvalidInput> =>
  typeof value === "string" && value.trim() !== "" && value.length <= 256
    ? Either.right(value)
    : Either.left(new InvalidInput({ message: `${name} must be a non-empty string of at most 256 characters` }))

const decodeSpec = Schema.decodeUnknownEither(AgentSpec)

export const statusOf = (agent: AgentRow, loans: ReadonlyArray<LoanRow>): AgentStatus => {
  let lent = 0
  let borrowed = 0
  for (const loan of loans) {
    if (loan.lender === agent.id) lent += loan.amount
    if (loan.borrower === agent.id) borrowed += loan.amount
  }
  return {
    id: agent.id,
    weight: agent.weight,
    minShare: agent.minShare,
    maxShare: agent.maxShare,
    allocated: agent.allocated,
    used: agent.used,
    reserved: agent.reserved,
    remaining: Rules.remainingOf(agent),
    lent,
    borrowed,
    overage: agent.overage,
    utilisation: agent.allocated === 0 ? 0 : agent.used / agent.allocated,
    lastActivity: agent.lastActivity
  }
}

export const make = (
  config: Options.Config,
  store: BudgetLedger,
  backend: string
): Effect.Effect<TokenBudget.TokenBudgetService, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    // Reservation ids: from core's IdGenerator when one is provided;
    // otherwise a ULID drawn when the layer is built followed by a counter,
    // as unique as the ULID and made without an effect per id (a ULID per
    // id costs ≈6 µs on Node 20, more than the rest of a memory reserve).
    const provided = yield* Effect.serviceOption(IdGenerator.IdGenerator)
    const prefix = Option.isNone(provided) ? yield* IdGenerator.makeUlid.next : ""
    let counter = 0
    const localId = () => `${prefix}-${(++counter).toString(36).padStart(11, "0")}`
    /** Runs `f` with a new reservation id and the time by Clock. */
    const withIdAndTime = <A, E>(f: (id: string, now: number) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Option.isNone(provided)
        ? Effect.clockWith((clock) => f(localId(), clock.unsafeCurrentTimeMillis()))
        : Effect.flatMap(
          provided.value.next,
          (id) => Effect.clockWith((clock) => f(id, clock.unsafeCurrentTimeMillis()))
        )
    const alerts = yield* Effect.acquireRelease(PubSub.unbounded<Alert>(), PubSub.shutdown)
    const tagged = (metric: Metric.Metric.Counter<number>, ...tags: ReadonlyArray<readonly [string, string]>) =>
      Metrics.taggedCounter(metric, [["backend", backend], ...tags])
    const granted = tagged(Metrics.grantedTokensTotal)
    const overageTokens = tagged(Metrics.overageTokensTotal)
    const expiredTotal = tagged(Metrics.expiredReservationsTotal)
    const transferred = {
      steal: tagged(Metrics.transferredTokensTotal, ["kind", "steal"]),
      reclaim: tagged(Metrics.transferredTokensTotal, ["kind", "reclaim"])
    }
    const exhaustedBy = {
      agent: tagged(Metrics.exhaustedTotal, ["scope", "agent"]),
      team: tagged(Metrics.exhaustedTotal, ["scope", "team"])
    }

    // Threshold alerts this instance raised or found raised, for the current
    // period: a crossing is claimed from the store once per team, scope,
    // threshold and period (so once across processes), and asked of the store
    // only once per instance.
    const raised = new Set<string>()
    let raisedPeriod: string | undefined

    interface Crossing {
      readonly key: string
      readonly alert: Alert
    }

    /** Threshold crossings this instance has not yet seen in `period`, added to `out`. */
    const crossings = (
      out: Array<Crossing>,
      period: string,
      total: number,
      teamUsed: number,
      agents: ReadonlyArray<Pick<AgentRow, "id" | "used" | "allocated">>
    ) => {
      if (raisedPeriod !== period) {
        raised.clear()
        raisedPeriod = period
      }
      const cross = (scope: "agent" | "team", agent: string | undefined, used: number, limit: number) => {
        if (limit <= 0) return
        for (const threshold of config.alertThresholds) {
          if (used < threshold * limit) break
          // scope and threshold hold no colon, so the key names one crossing.
          const key = `${scope}:${threshold}:${agent ?? ""}`
          if (raised.has(key)) continue
          raised.add(key)
          out.push({
            key,
            alert: {
              _tag: "ThresholdCrossed",
              scope,
              ...(agent === undefined ? {} : { agent }),
              threshold,
              used,
              limit,
              period
            }
          })
        }
      }
      for (const agent of agents) cross("agent", agent.id, agent.used, agent.allocated)
      cross("team", undefined, teamUsed, total)
    }

    /**
     * The crossings no process raised before, claimed from the store. When
     * the store fails, the operation has already happened: the crossings are
     * raised here rather than lost (at worst twice across processes).
     */
    const claim = (period: string, found: ReadonlyArray<Crossing>): Effect.Effect<Array<Alert>> =>
      found.length === 0
        ? Effect.succeed([])
        : store.claimAlerts(period, found.map((c) => c.key)).pipe(
          Effect.map((keys) => {
            const won = new Set(keys)
            return found.flatMap((c) => won.has(c.key) ? [c.alert] : [])
          }),
          Effect.orElseSucceed(() => found.map((c) => c.alert))
        )

    const lowest = config.alertThresholds.length === 0 ? Infinity : config.alertThresholds[0]!
    /** After a fast path (nothing moved, expired or overran): the threshold alerts alone, then `result`. */
    const afterFast = <A>(periodKey: string, outcome: FastOutcome, result: A): Effect.Effect<A> => {
      // Below the lowest threshold (the common case) nothing can cross.
      if (
        outcome.used < lowest * outcome.allocated && outcome.teamUsed < lowest * config.total &&
        raisedPeriod === periodKey
      ) return Effect.succeed(result)
      const found: Array<Crossing> = []
      crossings(found, periodKey, config.total, outcome.teamUsed, [{
        id: outcome.agent,
        used: outcome.used,
        allocated: outcome.allocated
      }])
      if (found.length === 0) return Effect.succeed(result)
      return Effect.flatMap(claim(periodKey, found), (out) =>
        out.length === 0 ? Effect.succeed(result) : Effect.as(PubSub.publishAll(alerts, out), result))
    }

    const afterwards = (report: Rules.Report) => {
      const found: Array<Crossing> = []
      crossings(found, report.team.periodKey, report.team.total, report.teamUsed, report.agents)
      // The common case (nothing moved, expired or crossed) costs no effect.
      if (
        found.length === 0 && report.transfers.length === 0 && report.overages.length === 0 &&
        report.expired === 0
      ) {
        return Effect.void
      }
      return Effect.gen(function*() {
        for (const transfer of report.transfers) {
          yield* Metric.incrementBy(transferred[transfer.kind], transfer.amount)
        }
        for (const overage of report.overages) {
          yield* Metric.incrementBy(overageTokens, overage.tokens)
        }
        if (report.expired > 0) {
          yield* Metric.incrementBy(expiredTotal, report.expired)
        }
        const out = yield* claim(report.team.periodKey, found)
        for (const transfer of report.transfers) {
          out.push(transfer.kind === "steal" ? { _tag: "Stolen", transfer } : { _tag: "Reclaimed", transfer })
        }
        for (const overage of report.overages) {
          out.push({ _tag: "Overage", ...overage })
        }
        if (out.length > 0) {
          yield* PubSub.publishAll(alerts, out)
        }
      })
    }

    // The period's current window, kept until the clock leaves it: windowAt
    // formats dates in the period's time zone, too dear for every operation.
    let window: Period.Window | undefined
    const periodKeyAt = (now: number): string => {
      if (config.period === undefined) {
        return "all"
      }
      if (window === undefined || now < window.start || now >= window.end) {
        window = Period.windowAt(config.period, now)
      }
      return window.key
    }

    const run = <A, E>(
      operation: string,
      reservationId: string | undefined,
      rules: (draft: Rules.Draft) => Outcome<Rules.Result<A>, E>
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const settings: Rules.Settings = {
          total: config.total,
          periodKey: periodKeyAt(now),
          now,
          idleAfterMillis: config.idleAfterMillis,
          donorShare: config.donorShare
        }
        return store.transact(operation, reservationId, (snapshot) => {
          const draft = new Rules.Draft(snapshot, settings)
          Rules.prepare(draft)
          return rules(draft)
        })
      }).pipe(
        Effect.tap(({ result }) =>
          afterwards(result.report)
        ),
        Effect.map(({ expiresAt, result }) => ({ value: result.value, expiresAt }))
      )

    const exhausted = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.tapError(effect, (error) =>
        error._tag === "BudgetExhausted"
          ? Metric.increment(exhaustedBy[(error as unknown as { scope: "agent" | "team" }).scope])
          : Effect.void)

    yield* run("open", undefined, Rules.open)

    const register = Effect.fn("TokenBudget.register")(function*(raw: unknown) {
      const decoded = decodeSpec(raw)
      if (Either.isLeft(decoded)) return yield* new InvalidInput({ message: decoded.left.message })
      yield* run("register", undefined, (draft) => Rules.register(draft, decoded.right))
    })

    const registerAll = Effect.fn("TokenBudget.registerAll")(function*(raw: unknown) {
      if (!Array.isArray(raw)) return yield* new InvalidInput({ message: "registerAll takes an array of agents" })
      const specs: Array<typeof AgentSpec.Type> = []
      const seen = new Set<string>()
      for (const [i, item] of raw.entries()) {
        const decoded = decodeSpec(item)
        if (Either.isLeft(decoded)) {
          return yield* new InvalidInput({ message: `agent ${i}: ${decoded.left.message}` })
        }
        if (seen.has(decoded.right.id)) {
          return yield* new InvalidInput({ message: `agent ${i}: the id "${decoded.right.id}" is given twice` })
        }
        seen.add(decoded.right.id)
        specs.push(decoded.right)
      }
      if (specs.length === 0) return
      yield* run("register", undefined, (draft) => Rules.registerAll(draft, specs))
    })

    const remove = Effect.fn("TokenBudget.remove")(function*(agent: string) {
      const id = yield* idOf("agent", agent)
      yield* run("remove", undefined, (draft) => Rules.remove(draft, id))
    })

    // request, reserve, commit and release are the hot path and untraced: an
    // Effect.fn span costs ≈15 µs a call on Node 20 (measured), more than the
    // memory store's whole operation.
    const request = (agent: string, tokens: number, options?: TokenBudget.RequestOptions) =>
      Effect.gen(function*() {
        const id = yield* idOf("agent", agent)
        const n = yield* tokensOf("tokens", tokens)
        const partial = options?.partial === true
        const { value } = yield* exhausted(run("request", undefined, (draft) => Rules.request(draft, id, n, partial)))
        yield* Metric.incrementBy(granted, value)
        return { agent: id, requested: n, granted: value, partial: value < n }
      })

    // reserve and commit first try the store's fast path (one agent's row,
    // the reservation and the team's use, without loading the team), which
    // applies when nothing else would change: no period to roll over, no
    // expiry to sweep, no reclaim, no steal, no overage. Otherwise, or when
    // the fast path finds it does not apply, the whole rules run.
    const reserve = (
      agent: string,
      tokens: number,
      options?: TokenBudget.ReserveOptions
    ): Effect.Effect<Reservation, InvalidInput | UnknownAgent | BudgetExhausted | StoreError> => {
      const id = idOf("agent", agent)
      if (Either.isLeft(id)) return Effect.fail(id.left)
      const n = tokensOf("tokens", tokens)
      if (Either.isLeft(n)) return Effect.fail(n.left)
      const partial = options?.partial === true
      let ttl: number | null = config.reservationTimeoutMillis
      if (options?.timeout === "never") ttl = null
      else if (options?.timeout !== undefined) {
        const ms = Options.millis("timeout", options.timeout)
        if (typeof ms === "string") {
          return Effect.fail(new InvalidInput({ message: `${ms}, or "never"` }))
        }
        ttl = ms
      }
      const agentId = id.right
      const amount = n.right
      return withIdAndTime((reservationId, now) => {
        const periodKey = periodKeyAt(now)
        return Effect.flatMap(
          store.reserveFast({
            id: reservationId,
            agent: agentId,
            tokens: amount,
            ttlMillis: ttl,
            now,
            periodKey,
            total: config.total
          }),
          (fast) =>
            fast === undefined
              ? Effect.map(
                exhausted(
                  run(
                    "reserve",
                    undefined,
                    (draft) => Rules.reserve(draft, reservationId, agentId, amount, partial, ttl)
                  )
                ),
                ({ expiresAt, value }) => ({
                  id: reservationId,
                  agent: agentId,
                  requested: amount,
                  amount: value,
                  partial: value < amount,
                  expiresAt
                })
              ).pipe(Effect.tap(({ amount }) => Metric.incrementBy(granted, amount)))
              : Effect.zipRight(
                Metric.incrementBy(granted, amount),
                afterFast(periodKey, fast, {
                  id: reservationId,
                  agent: agentId,
                  requested: amount,
                  amount,
                  partial: false,
                  expiresAt: fast.expiresAt
                })
              )
        )
      })
    }

    const commit = (
      reservation: string,
      actualTokens: number
    ): Effect.Effect<Settlement, InvalidInput | ReservationNotFound | StoreError> => {
      const id = idOf("reservation", reservation)
      if (Either.isLeft(id)) return Effect.fail(id.left)
      const n = tokensOf("actualTokens", actualTokens)
      if (Either.isLeft(n)) return Effect.fail(n.left)
      const reservationId = id.right
      const actual = n.right
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const periodKey = periodKeyAt(now)
        return Effect.flatMap(
          store.commitFast({ id: reservationId, actual, now, periodKey, total: config.total }),
          (fast) =>
            fast === undefined
              ? Effect.map(
                run("commit", reservationId, (draft) => Rules.commit(draft, reservationId, actual)),
                (r) => r.value
              )
              : afterFast(periodKey, fast, {
                id: reservationId,
                agent: fast.agent,
                state: "committed" as const,
                reserved: fast.amount,
                actual,
                charged: actual,
                refunded: fast.amount - Math.min(fast.amount, actual),
                overage: 0,
                repeated: false
              })
        )
      })
    }

    const release = (reservation: string) =>
      Effect.gen(function*() {
        const id = yield* idOf("reservation", reservation)
        const { value } = yield* run("release", id, (draft) => Rules.release(draft, id))
        return value
      })

    const agent = Effect.fn("TokenBudget.agent")(function*(id: string) {
      const view = yield* store.view(0)
      const row = view.agents.find((a) => a.id === id)
      if (row === undefined) return yield* new UnknownAgent({ agent: id })
      return statusOf(row, view.loans)
    })

    const dashboard = Effect.fn("TokenBudget.dashboard")(function*() {
      const view = yield* store.view(config.transferLimit)
      const team = view.team ?? {
        total: config.total,
        periodKey: "",
        retiredUsed: 0,
        retiredOverage: 0,
        used: 0,
        steals: 0,
        reclaims: 0
      }
      const agents = [...view.agents].sort((a, b) => a.seq - b.seq)
      let allocated = 0
      let reserved = 0
      let overage = team.retiredOverage
      for (const a of agents) {
        allocated += a.allocated
        reserved += a.reserved
        overage += a.overage
      }
      // The team's use as kept on its row (the conformance suite checks it
      // against its agents' use).
      const used = team.used
      const result: Dashboard = {
        team: config.team,
        period: team.periodKey,
        total: team.total,
        allocated,
        used,
        reserved,
        remaining: Rules.teamRemaining(team, agents),
        utilisation: team.total === 0 ? 0 : used / team.total,
        overage,
        retiredUsed: team.retiredUsed,
        agents: agents.map((a) => statusOf(a, view.loans)),
        outstandingReservations: view.held,
        steals: team.steals,
        reclaims: team.reclaims,
        transfers: view.transfers,
        history: view.history
      }
      return result
    })

    return {
      team: config.team,
      period: config.period,
      register,
      registerAll,
      remove,
      request,
      reserve,
      commit,
      release,
      agent,
      dashboard,
      alerts: Stream.fromPubSub(alerts),
      subscribe: PubSub.subscribe(alerts)
    }
  })
