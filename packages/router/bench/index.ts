// Benchmarks of @agentos/router, each side by side in this process with its
// peer: routing decisions (reasons computed) against a plain port of the
// article's route over the same 50-model catalog; reserve+settle pairs on
// memory, SQLite and Postgres against the raw driver running the minimal
// statements a hand-written ledger needs for the same guarantee; and the
// cost report of routing against the reference model on workload mixes.
// Run: pnpm --filter @agentos/router bench
import * as Complexity from "@agentos/core/Complexity"
import * as Money from "@agentos/core/Money"
import { Backends, Bench } from "@agentos/testkit"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as SqlClient from "@effect/sql/SqlClient"
import BetterSqlite from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import Pg from "pg"
import * as DecisionLog from "../src/DecisionLog.js"
import * as DefaultCatalog from "../src/DefaultCatalog.js"
import * as ModelCatalog from "../src/ModelCatalog.js"
import type * as Route from "../src/Route.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as Router from "../src/Router.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { ArticleRouter, fromModel } from "./article.js"

const SOURCE = "issue #12"
const figures: Array<Bench.Figure> = []

// ---------------------------------------------------------------------------
// 1. Routing decisions with a 50-model catalog.

/** 50 models: the default catalog's 21 rows, then variants with scaled prices and speeds. */
const catalog50: ModelCatalog.ModelCatalog = (() => {
  const base = DefaultCatalog.catalog.models
  const models = [...base]
  for (let i = 0; models.length < 50; i++) {
    const m = base[i % base.length]!
    const f = 0.6 + ((i * 37) % 90) / 100
    models.push({
      ...m,
      name: `${m.name}-v${i}`,
      pricing: {
        input: Math.round(m.pricing.input * f) as typeof m.pricing.input,
        output: Math.round(m.pricing.output * f) as typeof m.pricing.output
      },
      outputTokensPerSecond: m.outputTokensPerSecond * (2 - f)
    })
  }
  return Effect.runSync(ModelCatalog.make(DefaultCatalog.asOf, models))
})()

/** 256 varied requests (a fixed pseudo-random sequence). */
const requests: ReadonlyArray<Router.KnownRequest> = (() => {
  let seed = 12345
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  return Array.from({ length: 256 }, (): Router.KnownRequest => {
    const complexity = Complexity.levels[Math.floor(next() * 5)]!
    const r = next()
    return {
      inputTokens: Math.floor(100 + next() * 50_000),
      outputTokens: Math.floor(50 + next() * 2_000),
      complexity,
      ...(r < 0.3 ? { requires: ["tools"] as const } : r < 0.4 ? { requires: ["vision", "tools"] as const } : {}),
      ...(next() < 0.5 ? { maxLatencyMillis: 5_000 + next() * 30_000 } : {}),
      ...(next() < 0.2 ? { maxCost: Math.floor(next() * 50_000) } : {})
    }
  })
})()
const articleTasks = requests.map((r) => ({
  estimatedInputTokens: r.inputTokens,
  estimatedOutputTokens: r.outputTokens,
  complexity: Complexity.rank(r.complexity) + 1,
  ...(r.maxLatencyMillis === undefined ? {} : { maxLatencyMs: r.maxLatencyMillis })
}))

let sink = 0
const routing = async () => {
  const article = new ArticleRouter(catalog50.models.map(fromModel), Number.POSITIVE_INFINITY)
  let chosenCount = 0
  let rejectionCount = 0
  for (const request of requests) {
    const d = Router.decide(catalog50, request)
    if (Either.isRight(d)) chosenCount++
    rejectionCount += Either.isRight(d) ? d.right.rejected.length : d.left.rejections.length
  }
  const comparison = await Bench.compare(
    {
      name: "Router.decide",
      run: async (ops) => {
        for (let i = 0; i < ops; i++) {
          const d = Router.decide(catalog50, requests[i & 255]!)
          sink += Either.isRight(d) ? d.right.rejected.length : d.left.rejections.length
        }
      }
    },
    {
      name: "article route",
      run: async (ops) => {
        for (let i = 0; i < ops; i++) sink += article.route(articleTasks[i & 255]!).model.maxContext
      }
    },
    { ops: 20_000, rounds: 9 }
  )
  const perSecond = Math.round(1e6 / comparison.ours)
  figures.push({
    ...Bench.comparedFigure({
      name: "routing decision, 50-model catalog, varied requests, every model's reasons computed",
      comparison,
      baselineName: "a plain port of the article's route over the same catalog (no reasons, no checks of tools)",
      config: {
        models: 50,
        requests: 256,
        eligibleShare: `${chosenCount}/256 requests find a model`,
        reasonsPerDecision: Math.round(rejectionCount / 256)
      },
      target: { source: SOURCE, description: "at least 200,000 decisions/s (at most 5 µs per decision)", max: 5 }
    }),
    note: `${perSecond} decisions/s; the article's port ${
      Math.round(1e6 / comparison.baseline)
    } decisions/s (it judges each model with fewer checks and builds no reasons)`
  })

  // The same decisions through the Router service (an Effect per decision).
  const runtime = ManagedRuntime.make(
    Router.layer({ catalog: catalog50 }).pipe(Layer.provide(SpendLedger.layerMemory({ budgets: [], sweepInterval: 0 })))
  )
  const router = await runtime.runPromise(Router.Router)
  const service = await Bench.compare(
    {
      name: "Router.route",
      run: async (ops) => {
        for (let i = 0; i < ops; i++) {
          const d = Effect.runSync(Effect.either(router.route(requests[i & 255]! as Route.RouteRequest)))
          sink += Either.isRight(d) ? 1 : 0
        }
      }
    },
    {
      name: "article route",
      run: async (ops) => {
        for (let i = 0; i < ops; i++) sink += article.route(articleTasks[i & 255]!).model.maxContext
      }
    },
    { ops: 10_000, rounds: 7 }
  )
  figures.push({
    ...Bench.comparedFigure({
      name: "routing decision through the Router service (Effect.runSync per decision, request validated)",
      comparison: service,
      baselineName: "a plain port of the article's route over the same catalog",
      config: { models: 50, requests: 256 },
      target: { source: SOURCE, description: "at least 200,000 decisions/s (at most 5 µs per decision)", max: 5 }
    }),
    note: `${Math.round(1e6 / service.ours)} decisions/s`
  })
  await runtime.dispose()
}

// ---------------------------------------------------------------------------
// 2. Reserve + settle pairs.

const BUDGET = 1_000_000_000_000
const ledgerOptions: SpendLedger.Options = {
  budgets: [{ scope: "team:bench", limit: BUDGET, period: { unit: "month" } }],
  sweepInterval: 0
}
const reserveInput = {
  scopes: ["team:bench"],
  model: "gpt-4.1-mini",
  amount: Money.micros(1_000),
  inputTokens: 1_000,
  maxOutputTokens: 500
}

const ourPairs = (ledger: SpendLedger.SpendLedgerService) => (ops: number) =>
  Effect.runPromise(Effect.forEach(
    Array.from({ length: ops }),
    () => Effect.flatMap(ledger.reserve(reserveInput), (r) => ledger.settle(r.id, { charged: Money.micros(700) })),
    { discard: true }
  ))

const MINIMAL = "a transaction of the conditional scope upsert (limit check and hold in one statement) and the " +
  "reservation INSERT; then a transaction of the reservation UPDATE … RETURNING and the scope UPDATE"

let rawCounter = 0
const rawId = () => `raw-${process.pid}-${++rawCounter}`

const UPSERT = `INSERT INTO agentos_router_scopes (scope, period, reserved) VALUES ($1, $2, $3)
  ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
  WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= $4 RETURNING 1 AS ok`
const INSERT = `INSERT INTO agentos_router_reservations
  (id, scope, period, model, amount, input_tokens, max_output_tokens, expires_at, state)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')`
const SETTLE = `UPDATE agentos_router_reservations SET state = 'settled', charged = $2,
  overage = CASE WHEN $2 > amount THEN $2 - amount ELSE 0 END, reference_cost = $2, estimated = 0
  WHERE id = $1 AND state = 'open' AND expires_at > $3 RETURNING scope, period, amount`
const CHARGE = `UPDATE agentos_router_scopes SET spent = spent + $1, reserved = reserved - $2,
  overage = overage + $3, calls = calls + 1 WHERE scope = $4 AND period = $5 RETURNING spent`

/** A `$n` statement for better-sqlite3: positional `?`, arguments repeated in the order they appear. */
// Postgres: the same guarantee in one statement each (a statement is atomic),
// the database's clock for the expiry, as the layer does.
const PG_RESERVE = `WITH held AS (
    INSERT INTO agentos_router_scopes (scope, period, reserved) VALUES ($2, $3, $5)
    ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
    WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= $8 RETURNING 1)
  INSERT INTO agentos_router_reservations
    (id, scope, period, model, amount, input_tokens, max_output_tokens, expires_at, state)
  SELECT $1, $2, $3, $4, $5, $6, $7, floor(extract(epoch from clock_timestamp()) * 1000)::bigint + $9, 'open'
  FROM held RETURNING expires_at`
const PG_SETTLE = `WITH r AS (
    UPDATE agentos_router_reservations SET state = 'settled', charged = $2,
      overage = CASE WHEN $2 > amount THEN $2 - amount ELSE 0 END, reference_cost = $2, estimated = 0
    WHERE id = $1 AND state = 'open' AND expires_at > floor(extract(epoch from clock_timestamp()) * 1000)::bigint
    RETURNING scope, period, amount)
  UPDATE agentos_router_scopes AS s SET spent = s.spent + $2, reserved = s.reserved - r.amount,
    overage = s.overage + GREATEST($2 - r.amount, 0), calls = s.calls + 1
  FROM r WHERE s.scope = r.scope AND s.period = r.period RETURNING s.spent`
const PG_MINIMAL = "one statement to reserve (a CTE: the conditional scope upsert, then the reservation INSERT " +
  "from its row) and one to settle (a CTE: the reservation UPDATE … RETURNING, then the scope UPDATE … FROM it); " +
  "expiry by the database's clock"

const toSqlite = (conn: BetterSqlite.Database, sql: string) => {
  const order = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]) - 1)
  const statement = conn.prepare(sql.replace(/\$\d+/g, "?"))
  return (...args: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
    statement.reader ? statement.all(...order.map((i) => args[i])) : [statement.run(...order.map((i) => args[i]))]
}

const memoryPairs = async () => {
  const runtime = ManagedRuntime.make(SpendLedger.layerMemory(ledgerOptions))
  const ledger = await runtime.runPromise(SpendLedger.SpendLedger)
  // The hand-written peer: a map of scope totals and one of open reservations.
  const scopes = new Map<string, { spent: number; reserved: number }>()
  const open = new Map<string, { amount: number; scope: string }>()
  const raw = async (ops: number) => {
    for (let i = 0; i < ops; i++) {
      const key = "team:bench|2026-12"
      const s = scopes.get(key) ?? { spent: 0, reserved: 0 }
      scopes.set(key, s)
      if (s.spent + s.reserved + 1_000 > BUDGET) throw new Error("over budget")
      s.reserved += 1_000
      const id = rawId()
      open.set(id, { amount: 1_000, scope: key })
      const r = open.get(id)!
      open.delete(id)
      s.spent += 700
      s.reserved -= r.amount
    }
  }
  const comparison = await Bench.compare({ name: "ours", run: ourPairs(ledger) }, { name: "raw", run: raw }, {
    ops: 2_000,
    rounds: 9
  })
  figures.push({
    ...Bench.comparedFigure({
      name: "reserve+settle pair (memory)",
      comparison,
      baselineName: "plain maps: check and hold, then charge and refund",
      config: { backend: "memory" }
    }),
    note: `${Math.round(1e6 / comparison.ours)} pairs/s`
  })
  await runtime.dispose()
}

const sqlPairs = async (backend: "sqlite" | "postgres") => {
  const db = backend === "sqlite" ? Backends.sqlite() : Backends.postgres()
  const runtime = ManagedRuntime.make(Layer.provideMerge(SpendLedger.layerSql(ledgerOptions), db))
  const ledger = await runtime.runPromise(SpendLedger.SpendLedger)
  const info = await runtime.runPromise(Backends.TestDatabase)
  await runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`))
  let raw: (ops: number) => Promise<void>
  let close: () => Promise<void>
  if (backend === "sqlite") {
    const conn = new BetterSqlite(info.filename!)
    conn.pragma("journal_mode = WAL")
    conn.pragma("busy_timeout = 5000")
    const upsert = toSqlite(conn, UPSERT)
    const insert = toSqlite(conn, INSERT)
    const settle = toSqlite(conn, SETTLE)
    const charge = toSqlite(conn, CHARGE)
    const reserveTx = conn.transaction((id: string) => {
      if (upsert("team:bench", "2026-12", 1_000, BUDGET).length === 0) throw new Error("over budget")
      insert(id, "team:bench", "2026-12", "gpt-4.1-mini", 1_000, 1_000, 500, Date.now() + 600_000)
    })
    const settleTx = conn.transaction((id: string) => {
      const rows = settle(id, 700, Date.now()) as Array<{ scope: string; period: string; amount: number }>
      for (const row of rows) charge(700, row.amount, 0, row.scope, row.period)
    })
    raw = async (ops) => {
      for (let i = 0; i < ops; i++) {
        const id = rawId()
        reserveTx(id)
        settleTx(id)
      }
    }
    close = async () => {
      conn.close()
    }
  } else {
    const client = new Pg.Client({ connectionString: info.url!, options: `-c search_path=${info.schema}` })
    await client.connect()
    raw = async (ops) => {
      for (let i = 0; i < ops; i++) {
        const id = rawId()
        const held = await client.query({
          name: "reserve",
          text: PG_RESERVE,
          values: [id, "team:bench", "2026-12", "gpt-4.1-mini", 1_000, 1_000, 500, BUDGET, 600_000]
        })
        if (held.rows.length === 0) throw new Error("over budget")
        await client.query({ name: "settle", text: PG_SETTLE, values: [id, 700] })
      }
    }
    close = () => client.end()
  }
  try {
    const comparison = await Bench.compare({ name: "ours", run: ourPairs(ledger) }, { name: "raw", run: raw }, {
      // Many short rounds, alternated: on a shared machine the load moves
      // within a second, and short turns let both sides meet the same load.
      ops: backend === "sqlite" ? 50 : 20,
      rounds: backend === "sqlite" ? 61 : 41,
      warmupOps: backend === "sqlite" ? 1_000 : 400
    })
    figures.push({
      ...Bench.comparedFigure({
        name: `reserve+settle pair (${backend})`,
        comparison,
        baselineName: backend === "sqlite" ? `better-sqlite3: ${MINIMAL}` : `pg: ${PG_MINIMAL}`,
        config: {
          backend,
          statements: backend === "sqlite" ? MINIMAL : PG_MINIMAL,
          ours: backend === "sqlite"
            ? "the same statements, compiled once, on the client's connection, in BEGIN IMMEDIATE … COMMIT"
            : "the same two statements, compiled once, each on a pool connection (sent unnamed by @effect/sql-pg)",
          ...(backend === "sqlite"
            ? {
              rawExpiry: "the raw side stamps expiry with the client's clock (ours: the database's, in the statement)"
            }
            : {}),
          ...(backend === "sqlite" ? { journal: "WAL", busyTimeoutMs: 5000 } : { pool: 4, rawClient: "one pg.Client" })
        },
        target: { source: SOURCE, maxRatio: backend === "sqlite" ? 3.5 : 1.5 }
      }),
      note: `${Math.round(1e6 / comparison.ours)} pairs/s; the raw side ${
        Math.round(1e6 / comparison.baseline)
      } pairs/s`
    })
  } finally {
    await close()
    await runtime.dispose()
  }
}

// The Postgres floor: how close any client of @effect/sql-pg can come to the
// raw side. The same two statements (PG_RESERVE, PG_SETTLE) four ways, in
// one set of rounds, each contender's turn rotating: raw pg with named
// (server-side prepared) statements — the pair figure's peer; raw pg with
// unnamed statements (parsed and planned on every call, as @effect/sql-pg
// sends every statement); bare @effect/sql-pg (`sql.unsafe`, the layer's own
// pool of 4); and our ledger on that pool.
const pgFloor = async () => {
  const runtime = ManagedRuntime.make(Layer.provideMerge(SpendLedger.layerSql(ledgerOptions), Backends.postgres()))
  const ledger = await runtime.runPromise(SpendLedger.SpendLedger)
  const info = await runtime.runPromise(Backends.TestDatabase)
  const sql = await runtime.runPromise(SqlClient.SqlClient)
  const client = new Pg.Client({ connectionString: info.url!, options: `-c search_path=${info.schema}` })
  await client.connect()
  const reserveValues = (
    id: string
  ) => [id, "team:bench", "2026-12", "gpt-4.1-mini", 1_000, 1_000, 500, BUDGET, 600_000]
  const rawPairs = (named: boolean) => async (ops: number) => {
    for (let i = 0; i < ops; i++) {
      const id = rawId()
      const held = await client.query(
        named
          ? { name: "reserve", text: PG_RESERVE, values: reserveValues(id) }
          : { text: PG_RESERVE, values: reserveValues(id) }
      )
      if (held.rows.length === 0) throw new Error("over budget")
      await client.query(
        named ? { name: "settle", text: PG_SETTLE, values: [id, 700] } : {
          text: PG_SETTLE,
          values: [id, 700]
        }
      )
    }
  }
  const barePairs = (ops: number) =>
    runtime.runPromise(Effect.forEach(
      Array.from({ length: ops }),
      () => {
        const id = rawId()
        return Effect.flatMap(sql.unsafe(PG_RESERVE, reserveValues(id)), (held) =>
          held.length === 0
            ? Effect.dieMessage("over budget")
            : sql.unsafe(PG_SETTLE, [id, 700]))
      },
      { discard: true }
    ))
  const contenders: ReadonlyArray<{ readonly name: string; readonly run: (ops: number) => Promise<void> }> = [
    { name: "raw pg, named statements", run: rawPairs(true) },
    { name: "raw pg, unnamed statements", run: rawPairs(false) },
    { name: "bare @effect/sql-pg (sql.unsafe), the same statements", run: barePairs },
    { name: "our ledger (SpendLedger.layerSql)", run: ourPairs(ledger) }
  ]
  const ops = 20
  const rounds = 41
  try {
    for (let i = 0; i < 2; i++) for (const c of contenders) await c.run(400)
    const times = contenders.map(() => [] as Array<number>)
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const index = (k + round) % contenders.length
        const start = performance.now()
        await contenders[index]!.run(ops)
        times[index]!.push(((performance.now() - start) * 1000) / ops)
      }
    }
    const named = times[0]!
    for (let index = 1; index < contenders.length; index++) {
      const a = times[index]!
      const comparison: Bench.Comparison = {
        ours: Bench.median(a),
        baseline: Bench.median(named),
        ratio: Bench.median(a.map((t, round) => t / named[round]!)),
        rounds,
        opsPerRound: ops,
        warmupOps: 400,
        oursRange: [Math.min(...a), Math.max(...a)],
        baselineRange: [Math.min(...named), Math.max(...named)]
      }
      figures.push({
        ...Bench.comparedFigure({
          name: `Postgres floor, reserve+settle pair: ${contenders[index]!.name}`,
          comparison,
          baselineName: `pg: ${PG_MINIMAL}, named statements`,
          config: {
            backend: "postgres",
            statements: PG_MINIMAL,
            contenders: contenders.map((c) => c.name).join("; "),
            order: "the four rotate their turn each round"
          }
        }),
        note: `${Math.round(1e6 / comparison.ours)} pairs/s; raw pg named ${
          Math.round(1e6 / comparison.baseline)
        } pairs/s`
      })
    }
  } finally {
    await client.end()
    await runtime.dispose()
  }
}

// ---------------------------------------------------------------------------
// 3. The cost report: routing against the reference model on workload mixes.

const shapes: Record<Complexity.Complexity, { inputTokens: number; outputTokens: number }> = {
  trivial: { inputTokens: 500, outputTokens: 50 },
  simple: { inputTokens: 2_000, outputTokens: 300 },
  moderate: { inputTokens: 4_000, outputTokens: 800 },
  complex: { inputTokens: 8_000, outputTokens: 1_500 },
  expert: { inputTokens: 16_000, outputTokens: 3_000 }
}
const mixes: ReadonlyArray<{ name: string; shares: ReadonlyArray<number> }> = [
  { name: "the issue's mix 40/30/15/10/5", shares: [40, 30, 15, 10, 5] },
  { name: "simple-heavy 60/30/10/0/0", shares: [60, 30, 10, 0, 0] },
  { name: "even 20/20/20/20/20", shares: [20, 20, 20, 20, 20] },
  { name: "hard 5/10/25/35/25", shares: [5, 10, 25, 35, 25] },
  { name: "all expert 0/0/0/0/100", shares: [0, 0, 0, 0, 100] }
]

const costReport = () => {
  for (const requires of [undefined, ["tools"] as const]) {
    for (const reference of [undefined, "claude-sonnet-4"] as const) {
      for (const mix of mixes) {
        let routed = 0
        let referenceCost = 0
        const chosen: Array<string> = []
        Complexity.levels.forEach((level, i) => {
          const share = mix.shares[i]!
          if (share === 0) return
          const d = Router.decide(DefaultCatalog.catalog, {
            ...shapes[level],
            complexity: level,
            ...(requires === undefined ? {} : { requires })
          }, reference === undefined ? {} : { reference })
          if (Either.isLeft(d)) throw new Error(`no model for ${level}`)
          routed += d.right.estimatedCost * share
          referenceCost += d.right.reference!.estimatedCost * share
          chosen.push(`${level}→${d.right.model.name}`)
        })
        const saving = 100 * (1 - routed / referenceCost)
        figures.push({
          name: `cost saving of routing, ${mix.name}, reference ${reference ?? "the most expensive capable model"}${
            requires === undefined ? "" : ", tools required"
          }`,
          value: Bench.round(saving),
          unit: "%",
          better: "higher",
          config: {
            catalog: `default, as of ${DefaultCatalog.asOf}`,
            shapes: "trivial 500/50, simple 2k/300, moderate 4k/800, complex 8k/1.5k, expert 16k/3k tokens in/out",
            routedMicrosPer100Calls: routed,
            referenceMicrosPer100Calls: referenceCost
          },
          target: {
            source: "the article's claim",
            description: "60–80% lower cost",
            min: 60,
            met: saving >= 60
          },
          note: chosen.join(", ")
        })
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 4. The routed model's overhead per call (issue #13): generateText through
// RoutedLanguageModel (route, reserve, call, settle, decision log) on the
// simulated provider with zero latency, against the same simulated
// provider's LanguageModel called directly, on memory and SQLite ledgers.

const overhead = async (backend: "memory" | "sqlite") => {
  const ledgerOptions = {
    budgets: [{ scope: "bench", limit: 1_000_000_000_000, period: { unit: "month" as const } }],
    sweepInterval: 0
  }
  const ledger = backend === "memory"
    ? SpendLedger.layerMemory(ledgerOptions)
    : SpendLedger.layerSql(ledgerOptions).pipe(Layer.provide(Backends.sqlite()))
  const simulated = { seed: 1, outputTokens: { min: 50, max: 50 } }
  const routedLayer = RoutedLanguageModel.layer({ scopes: ["bench"], outputTokens: 100 }).pipe(
    Layer.provide(SimulatedProvider.layer({ seed: 1, defaults: { outputTokens: simulated.outputTokens } })),
    Layer.provide(Router.layer()),
    Layer.provide(ledger)
  )
  const routed = ManagedRuntime.make(routedLayer)
  const prompt = "Summarise the incident report for the on-call engineer in three sentences."
  const hints = { complexity: "simple" as const, outputTokens: 100 }
  // The model the router chooses for this call, called directly.
  const chosen = await routed.runPromise(
    Effect.map(
      Effect.flatMap(LanguageModel.LanguageModel, (m) => m.generateText({ prompt })).pipe(
        RoutedLanguageModel.withRequest(hints)
      ),
      () => 0
    ).pipe(Effect.zipRight(Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 }))))
  )
  const modelName = chosen[0]!.attempts[0]!.model!
  const model = DefaultCatalog.catalog.models.find((m) => m.name === modelName)!
  const direct = ManagedRuntime.make(
    SimulatedProvider.layerLanguageModel(model, { seed: 1, defaults: { outputTokens: simulated.outputTokens } })
  )
  const calls = (runtime: typeof routed | typeof direct, routedCall: boolean) => async (ops: number) => {
    const one = Effect.flatMap(LanguageModel.LanguageModel, (m) => m.generateText({ prompt }))
    await runtime.runPromise(
      Effect.repeatN(routedCall ? RoutedLanguageModel.withRequest(one, hints) : one, ops - 1) as Effect.Effect<
        unknown,
        unknown,
        never
      >
    )
  }
  const comparison = await Bench.compare(
    { name: "routed generateText", run: calls(routed, true) },
    { name: "simulated LanguageModel", run: calls(direct, false) },
    { ops: backend === "memory" ? 2_000 : 300, rounds: 7, warmupOps: backend === "memory" ? 2_000 : 300 }
  )
  figures.push({
    ...Bench.comparedFigure({
      name: `routed generateText overhead, ${backend} ledger`,
      comparison,
      baselineName: `the simulated provider's LanguageModel (${modelName}) called directly`,
      config: {
        ledger: backend,
        catalog: `default, ${DefaultCatalog.catalog.models.length} models`,
        provider: "simulated, zero latency, 50 output tokens, no billed log",
        perCall: "route (every model judged), reserve, call, settle, decision log entry"
      }
    }),
    note: `${(comparison.ours - comparison.baseline).toFixed(1)} µs added per call`
  })
  await routed.dispose()
  await direct.dispose()
}

const main = async () => {
  if (process.env.ROUTER_BENCH === "overhead") {
    // The routed model's overhead alone; writes nothing.
    await overhead("memory")
    await overhead("sqlite")
    for (const f of figures) console.log(`${f.name}: ${f.value} ${f.unit} (ratio ${f.ratio}) — ${f.note}`)
    return
  }
  if (process.env.ROUTER_BENCH === "pairs") {
    // The SQL reserve+settle pairs and the Postgres floor alone; writes nothing.
    await sqlPairs("sqlite")
    if (Backends.pgUrl() !== undefined) {
      await sqlPairs("postgres")
      await pgFloor()
    }
    for (const f of figures) console.log(`${f.name}: ${f.value} ${f.unit} (ratio ${f.ratio}) — ${f.note}`)
    return
  }
  if (process.env.ROUTER_BENCH === "routing") {
    // A quick look at the routing figures alone; writes nothing.
    await routing()
    for (const f of figures) console.log(`${f.name}: ${f.value} ${f.unit} (ratio ${f.ratio})`)
    return
  }
  costReport()
  await routing()
  await memoryPairs()
  await overhead("memory")
  await overhead("sqlite")
  await sqlPairs("sqlite")
  if (Backends.pgUrl() !== undefined) {
    await sqlPairs("postgres")
    await pgFloor()
  } else console.log("AGENTOS_TEST_PG_URL not set: no Postgres figure")
  const file = Bench.writeResults("router", "pnpm --filter @agentos/router bench", figures)
  for (const f of figures) {
    console.log(
      `${f.name}: ${f.value} ${f.unit}${f.ratio === undefined ? "" : ` (ratio ${f.ratio})`}${
        f.note === undefined ? "" : ` — ${f.note}`
      }`
    )
  }
  console.log(`wrote ${file}; sink ${sink > 0}`)
}

void main()
