// The spend history the dashboard charts: from the service's start, a sample
// every `interval` (5 s by default) of the team's spend, what the same calls
// would have cost on the router's reference model, the team's spend budget
// and its token budget, kept in a bounded ring in this process's memory (the
// oldest sample goes first). Served at `GET /budget/history`.
//
// Spend figures are those of the spend scope's current period (a day): at
// the period's reset they start again from 0, as the router's report does.
import { TokenBudget } from "@agentos/budget"
import { SpendLedger } from "@agentos/router"
import { Clock, Context, Duration, Effect, Layer, Schedule } from "effect"
import type * as Api from "./Api.js"

type History = typeof Api.BudgetHistory.Type
type Sample = History["samples"][number]

/** The spend history of this process, oldest sample first. */
export class SpendHistory extends Context.Tag("@agentos/demo/SpendHistory")<SpendHistory, {
  readonly history: Effect.Effect<History>
  /** Takes a sample now (the layer's schedule calls it; a test may too). */
  readonly sample: Effect.Effect<void>
}>() {}

export interface Options {
  /** The spend scope whose spend, reference cost and limit are sampled (the team's). */
  readonly scope: string
  /** Between samples. Default 5 seconds. */
  readonly interval?: Duration.DurationInput
  /** Samples kept; the oldest is dropped beyond it. Default 720 (an hour at 5 s). */
  readonly capacity?: number
}

/** A ring of at most `capacity` items, read oldest first. */
const ring = <A>(capacity: number) => {
  const items: Array<A> = []
  let start = 0
  return {
    push: (item: A) => {
      if (items.length < capacity) items.push(item)
      else {
        items[start] = item
        start = (start + 1) % capacity
      }
    },
    read: (): ReadonlyArray<A> => [...items.slice(start), ...items.slice(0, start)]
  }
}

/** Samples from the layer's start, then every `interval`, for as long as the layer lives. */
export const layer = (options: Options) =>
  Layer.scoped(
    SpendHistory,
    Effect.gen(function*() {
      const ledger = yield* SpendLedger.SpendLedger
      const budget = yield* TokenBudget.TokenBudget
      const interval = Duration.decode(options.interval ?? Duration.seconds(5))
      const capacity = Math.max(1, Math.floor(options.capacity ?? 720))
      const samples = ring<Sample>(capacity)

      const sample = Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const report = yield* ledger.report({ at })
        const dashboard = yield* budget.dashboard()
        const scope = report.scopes.find((s) => s.scope === options.scope)
        samples.push({
          at,
          spentMicros: scope?.spent ?? 0,
          referenceMicros: scope === undefined ? 0 : scope.byModel.reduce((sum, m) => sum + m.reference, 0),
          budgetMicros: scope?.limit ?? 0,
          tokensUsed: dashboard.used,
          tokenBudget: dashboard.total
        })
      }).pipe(
        // A store that fails for a moment (or a defect in a report) costs one sample, not the history.
        Effect.catchAllCause((cause) => Effect.logWarning("spend history: no sample", cause))
      )

      // The first sample before the layer is built: the history is never empty.
      yield* sample
      yield* sample.pipe(Effect.repeat(Schedule.fixed(interval)), Effect.delay(interval), Effect.forkScoped)

      return {
        sample,
        history: Effect.sync(() => ({
          scope: options.scope,
          intervalMillis: Duration.toMillis(interval),
          capacity,
          samples: samples.read()
        }))
      }
    })
  )
