// Benchmarks of @agentos/budget (issue 14):
//  1. fairness: Jain's index over granted ÷ weighted max-min fair share, for
//     ours (the memory layer under a simulated clock), first-come-first-served
//     and the article's allocator, on one seeded request sequence;
//  2. reserve + commit pairs: memory alone; SQLite and Postgres side by side
//     in this process with the raw driver running the minimal statements a
//     hand-written ledger needs for the same guarantee.
// Run: pnpm --filter @agentos/budget bench
import { Backends, Bench } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import BetterSqlite from "better-sqlite3"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import Pg from "pg"
import * as TokenBudget from "../src/TokenBudget.js"
import { ArticleAllocator } from "./article.js"

const SOURCE = "issue 14"

// ---------------------------------------------------------------------------
// 1. Fairness

const mulberry32 = (seed: number) => () => {
  let t = (seed += 0x6D2B79F5)
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Agent {
  readonly id: string
  readonly weight: number
}
interface Ask {
  readonly agent: string
  readonly tokens: number
  readonly at: number
}

const BUDGET = 1_000_000
const agents: Array<Agent> = Array.from({ length: 20 }, (_, i) => ({
  id: `agent-${String(i).padStart(2, "0")}`,
  // 18 of weight 1, 2 of weight 2: agent-00 (chatty) and agent-10.
  weight: i === 0 || i === 10 ? 2 : 1
}))
const chatty = new Set(["agent-00", "agent-01", "agent-02"])

const workload = (seed: number): Array<Ask> => {
  const random = mulberry32(seed)
  const asks: Array<Ask & { readonly order: number }> = []
  for (const agent of agents) {
    for (let k = 0; k < 200; k++) {
      asks.push(
        chatty.has(agent.id)
          ? { agent: agent.id, tokens: 50_000, at: k * 1000, order: random() }
          : {
            agent: agent.id,
            tokens: 2_000 + Math.floor(random() * 18_001),
            at: Math.floor(random() * 200_000),
            order: random()
          }
      )
    }
  }
  return asks.sort((a, b) => a.at - b.at || a.order - b.order)
}

/** Weighted max-min fair shares of `budget` given each agent's total demand. */
const fairShares = (demand: Map<string, number>): Map<string, number> => {
  let lo = 0
  let hi = BUDGET
  const fill = (lambda: number) => agents.reduce((s, a) => s + Math.min(demand.get(a.id)!, lambda * a.weight), 0)
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2
    if (fill(mid) <= BUDGET) lo = mid
    else hi = mid
  }
  return new Map(agents.map((a) => [a.id, Math.min(demand.get(a.id)!, lo * a.weight)]))
}

const jain = (xs: ReadonlyArray<number>) => {
  const sum = xs.reduce((s, x) => s + x, 0)
  const squares = xs.reduce((s, x) => s + x * x, 0)
  return (sum * sum) / (xs.length * squares)
}

const fairness = async (): Promise<Array<Bench.Figure>> => {
  const asks = workload(14)
  const demand = new Map(agents.map((a) => [a.id, 0]))
  for (const ask of asks) demand.set(ask.agent, demand.get(ask.agent)! + ask.tokens)
  const shares = fairShares(demand)
  const index = (granted: Map<string, number>) => jain(agents.map((a) => granted.get(a.id)! / shares.get(a.id)!))

  // First come, first served: each request granted while the budget lasts (partially at the end).
  const fcfs = new Map(agents.map((a) => [a.id, 0]))
  let left = BUDGET
  for (const ask of asks) {
    const granted = Math.min(left, ask.tokens)
    left -= granted
    fcfs.set(ask.agent, fcfs.get(ask.agent)! + granted)
  }

  const article = new ArticleAllocator(BUDGET)
  for (const agent of agents) article.registerAgent(agent.id, agent.weight)
  const articleGranted = new Map(agents.map((a) => [a.id, 0]))
  for (const ask of asks) {
    article.now = ask.at / 1000
    articleGranted.set(ask.agent, articleGranted.get(ask.agent)! + article.requestTokens(ask.agent, ask.tokens))
  }

  // Ours, as a user gets it (the memory layer, default options: steals from
  // agents idle for a minute, half of what they have left), partial grants.
  const ours = await Effect.runPromise(
    Effect.gen(function*() {
      const budget = yield* TokenBudget.TokenBudget
      for (const agent of agents) yield* budget.register({ id: agent.id, weight: agent.weight })
      const granted = new Map(agents.map((a) => [a.id, 0]))
      for (const ask of asks) {
        yield* TestClock.setTime(ask.at)
        const grant = yield* Effect.either(budget.request(ask.agent, ask.tokens, { partial: true }))
        if (grant._tag === "Right") granted.set(ask.agent, granted.get(ask.agent)! + grant.right.granted)
      }
      return granted
    }).pipe(
      Effect.provide(TokenBudget.layerMemory({ total: BUDGET })),
      Effect.provide(TestContext.TestContext)
    )
  )
  const config = {
    budget: BUDGET,
    agents: "20 (18 of weight 1, 2 of weight 2)",
    chatty: "3 (one of weight 2): 50,000 tokens every simulated second",
    others: "17: 2,000–20,000 tokens at random moments",
    requests: "200 per agent, seeded order (seed 14)",
    partialGrants: true
  }
  const oursIndex = index(ours)
  const fcfsIndex = index(fcfs)
  const articleIndex = index(articleGranted)
  return [
    {
      name: "fairness: Jain's index of granted ÷ weighted max-min fair share (ours)",
      value: Bench.round(oursIndex),
      unit: "index",
      better: "higher",
      config,
      baseline: { name: "first come, first served", value: Bench.round(fcfsIndex) },
      ratio: Bench.round(fcfsIndex / oursIndex),
      target: { source: SOURCE, description: "at least 0.9", min: 0.9, met: oursIndex >= 0.9 },
      note: `first come, first served: ${Bench.round(fcfsIndex)} (below 0.7: ${fcfsIndex < 0.7}); the article's ` +
        `allocator: ${Bench.round(articleIndex)}`
    },
    {
      name: "fairness: Jain's index (the article's allocator, same budget and requests)",
      value: Bench.round(articleIndex),
      unit: "index",
      better: "higher",
      config,
      baseline: { name: "ours", value: Bench.round(oursIndex) }
    }
  ]
}

// ---------------------------------------------------------------------------
// 2. Reserve + commit pairs

const TEAM = "bench"
const RAW_TEAM = "raw"
const big = { total: 1_000_000_000_000 }

// The minimal hand-written ledger with the same guarantee: reserve only if it
// fits (the agent's row is the lock: a conditional UPDATE) and record the
// reservation with its expiry by the database's clock, atomically; then
// settle the reservation once (held and not expired) and move its tokens
// from reserved to used, atomically. On SQLite each is a transaction of two
// statements (no data-modifying CTE there); on Postgres each is one
// statement (a CTE: a statement is atomic), as the router's peer does.
const SQLITE_NOW = "(CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))"
const PG_NOW = "(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"
const sqliteStatements = {
  reserve: `UPDATE agentos_budget_agents SET reserved = reserved + ?
    WHERE team = ? AND id = ? AND allocated - used - reserved >= ? RETURNING reserved`,
  insert: `INSERT INTO agentos_budget_reservations
    (team, id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage)
    VALUES (?, ?, ?, ?, ?, 'held', ${SQLITE_NOW} + 300000, 0, 0, 0, 0)`,
  settle: `UPDATE agentos_budget_reservations SET state = 'committed', actual = ?, charged = ?
    WHERE team = ? AND id = ? AND state = 'held' AND expires_at > ${SQLITE_NOW} RETURNING agent, amount`,
  charge: `UPDATE agentos_budget_agents SET reserved = reserved - ?, used = used + ?
    WHERE team = ? AND id = ?`
}
const PG_RESERVE = `WITH a AS (
    UPDATE agentos_budget_agents SET reserved = reserved + $1
    WHERE team = $2 AND id = $3 AND allocated - used - reserved >= $1 RETURNING id)
  INSERT INTO agentos_budget_reservations
    (team, id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage)
  SELECT $2, $4, a.id, $1, $1, 'held', ${PG_NOW} + 300000, 0, 0, 0, 0 FROM a
  RETURNING expires_at`
const PG_SETTLE = `WITH r AS (
    UPDATE agentos_budget_reservations SET state = 'committed', actual = $1, charged = $1
    WHERE team = $2 AND id = $3 AND state = 'held' AND expires_at > ${PG_NOW} RETURNING agent, amount)
  UPDATE agentos_budget_agents AS a SET reserved = a.reserved - r.amount, used = a.used + $1
  FROM r WHERE a.team = $2 AND a.id = r.agent RETURNING a.used`
const SQLITE_MINIMAL = "two transactions (BEGIN IMMEDIATE): the agent's conditional UPDATE and the reservation " +
  "INSERT (expiry by the database's clock); then the reservation's UPDATE … RETURNING (held, not expired) and " +
  "the agent's UPDATE"
const PG_MINIMAL = "two statements, prepared: a CTE of the agent's conditional UPDATE and the reservation INSERT " +
  "(expiry by the database's clock); then a CTE of the reservation's UPDATE … RETURNING (held, not expired) and " +
  "the agent's UPDATE … FROM it"

let rawCounter = 0

const rawSqlite = (filename: string) => {
  const db = new BetterSqlite(filename)
  db.pragma("journal_mode = WAL") // as SqliteClient; synchronous stays at its default, as there
  db.pragma("busy_timeout = 5000")
  const reserve = db.prepare(sqliteStatements.reserve)
  const insert = db.prepare(sqliteStatements.insert)
  const settle = db.prepare(sqliteStatements.settle)
  const charge = db.prepare(sqliteStatements.charge)
  const doReserve = db.transaction((id: string) => {
    if (reserve.all(100, RAW_TEAM, "a", 100).length === 0) throw new Error("raw: does not fit")
    insert.run(RAW_TEAM, id, "a", 100, 100)
  })
  const doCommit = db.transaction((id: string) => {
    const rows = settle.all(60, 60, RAW_TEAM, id) as Array<{ agent: string; amount: number }>
    if (rows.length === 1) charge.run(rows[0]!.amount, 60, RAW_TEAM, rows[0]!.agent)
  })
  return {
    pair: async () => {
      const id = `raw-${++rawCounter}`
      doReserve.immediate(id)
      doCommit.immediate(id)
    },
    close: () => db.close()
  }
}

// `prepared`: named statements (parsed and planned once per connection), as
// a hand-written ledger on pg would; otherwise unnamed, parsed and planned on
// every call, as @effect/sql-pg sends every statement (it has no named ones).
const rawPg = async (url: string, schema: string, prepared: boolean) => {
  const client = new Pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`SET search_path TO ${schema}`)
  return {
    pair: async () => {
      const id = `raw-${++rawCounter}`
      const r = await client.query({
        ...(prepared ? { name: "reserve" } : {}),
        text: PG_RESERVE,
        values: [100, RAW_TEAM, "a", id]
      })
      if (r.rowCount !== 1) throw new Error("raw: does not fit")
      const settled = await client.query({
        ...(prepared ? { name: "settle" } : {}),
        text: PG_SETTLE,
        values: [60, RAW_TEAM, id]
      })
      if (settled.rowCount !== 1) throw new Error("raw: not settled")
    },
    close: () => client.end()
  }
}

const pairs = (budget: TokenBudget.TokenBudgetService, ops: number) =>
  Effect.forEach(
    Array.from({ length: ops }),
    () => Effect.flatMap(budget.reserve("a", 100), (r) => budget.commit(r.id, 60)),
    { discard: true }
  )

// The floor of any Effect-wrapped in-memory ledger on this machine: a pair
// of Ref updates (check and hold; charge and refund) run the same way.
const floorPairs = (ops: number) => {
  const ledger = Ref.unsafeMake({ allocated: Number.MAX_SAFE_INTEGER, used: 0, reserved: 0 })
  return Effect.forEach(
    Array.from({ length: ops }),
    () =>
      Effect.flatMap(
        Ref.modify(ledger, (s) =>
          s.allocated - s.used - s.reserved >= 100 ? [true, { ...s, reserved: s.reserved + 100 }] : [false, s]),
        () =>
          Ref.update(ledger, (s) => ({ ...s, reserved: s.reserved - 100, used: s.used + 60 }))
      ),
    { discard: true }
  )
}

// The same floor plus the work the issue's ledger cannot skip: a clock read
// per operation (expiry, period), a reservation id (a counter, as ours
// makes them) and one update of the granted-tokens counter, tagged as ours.
const workCounter = Metric.counter("agentos_budget_bench_floor_granted_tokens_total").pipe(
  Metric.tagged("backend", "memory")
)
const floorWithWorkPairs = (ops: number) => {
  const ledger = Ref.unsafeMake({ allocated: Number.MAX_SAFE_INTEGER, used: 0, reserved: 0 })
  let next = 0
  return Effect.forEach(
    Array.from({ length: ops }),
    () =>
      Effect.flatMap(
        Effect.clockWith((clock) => {
          const id = `r-${++next}`
          const expiresAt = clock.unsafeCurrentTimeMillis() + 300_000
          return Effect.zipLeft(
            Ref.modify(ledger, (s) =>
              s.allocated - s.used - s.reserved >= 100
                ? [{ id, expiresAt }, { ...s, reserved: s.reserved + 100 }]
                : [undefined, s]),
            Metric.incrementBy(workCounter, 100)
          )
        }),
        (reservation) =>
          Effect.clockWith((clock) =>
            reservation !== undefined && clock.unsafeCurrentTimeMillis() < reservation.expiresAt
              ? Ref.update(ledger, (s) => ({ ...s, reserved: s.reserved - 100, used: s.used + 60 }))
              : Effect.void
          )
      ),
    { discard: true }
  )
}

const memoryFigure = async (): Promise<Bench.Figure> => {
  const runtime = ManagedRuntime.make(TokenBudget.layerMemory({ team: TEAM, ...big }))
  try {
    const budget = await runtime.runPromise(TokenBudget.TokenBudget)
    await runtime.runPromise(budget.register({ id: "a" }))
    const comparison = await Bench.compare(
      { name: "memory", run: (ops) => runtime.runPromise(pairs(budget, ops)) },
      { name: "floor", run: (ops) => runtime.runPromise(floorPairs(ops)) },
      { ops: 20_000, rounds: 9 }
    )
    const perSecond = 1e6 / comparison.ours
    const floorPerSecond = 1e6 / comparison.baseline
    const work = await Bench.compare(
      { name: "floor", run: (ops) => runtime.runPromise(floorPairs(ops)) },
      { name: "floor with the required work", run: (ops) => runtime.runPromise(floorWithWorkPairs(ops)) },
      { ops: 20_000, rounds: 9 }
    )
    const workPerSecond = 1e6 / work.baseline
    return {
      name: "reserve + commit pairs per second (memory)",
      value: Bench.round(perSecond),
      unit: "pairs/s",
      better: "higher",
      config: {
        layer: "layerMemory, default options (ids: a ULID per layer and a counter)",
        agents: 1,
        sequential: true,
        opsPerRound: comparison.opsPerRound,
        rounds: comparison.rounds
      },
      baseline: {
        name: "floor: two Effect Ref updates per pair (check and hold; charge)",
        value: Bench.round(floorPerSecond)
      },
      ratio: Bench.round(comparison.ratio),
      spread: {
        min: Bench.round(1e6 / comparison.oursRange[1]),
        max: Bench.round(1e6 / comparison.oursRange[0]),
        baselineMin: Bench.round(1e6 / comparison.baselineRange[1]),
        baselineMax: Bench.round(1e6 / comparison.baselineRange[0])
      },
      target: { source: SOURCE, description: "at least 500,000/s", min: 500_000, met: perSecond >= 500_000 },
      note: `the floor, measured side by side: ${Math.round(floorPerSecond)} pairs/s ` +
        `(${Bench.round(comparison.baseline)} µs a pair); the floor with the work no ledger here can skip ` +
        `(a clock read an operation, a reservation id, one metric update) ${Math.round(workPerSecond)} pairs/s ` +
        `(${Bench.round(work.baseline)} µs; the bare floor beside it ${Math.round(1e6 / work.ours)}); ` +
        `ours ${Bench.round(comparison.ours)} µs a pair`
    }
  } finally {
    await runtime.dispose()
  }
}

const sqlFigure = async (
  backend: "sqlite" | "postgres",
  client: Layer.Layer<SqlClient.SqlClient | Backends.TestDatabase, unknown>,
  maxRatio: number,
  ops: number
): Promise<Array<Bench.Figure>> => {
  const runtime = ManagedRuntime.make(Layer.provideMerge(TokenBudget.layerSql({ team: TEAM, ...big }), client))
  try {
    const budget = await runtime.runPromise(TokenBudget.TokenBudget)
    await runtime.runPromise(budget.register({ id: "a" }))
    // The raw side's team and agent rows, made by the layer (same schema).
    const context = await runtime.runPromise(Effect.context<SqlClient.SqlClient | Backends.TestDatabase>())
    await runtime.runPromise(
      Effect.gen(function*() {
        const built = yield* Layer.build(
          TokenBudget.layerSql({ team: RAW_TEAM, ...big }).pipe(Layer.provide(Layer.succeedContext(context)))
        )
        yield* Context.get(built, TokenBudget.TokenBudget).register({ id: "a" })
      }).pipe(Effect.scoped)
    )
    const database = Context.get(context, Backends.TestDatabase)
    const raw = backend === "sqlite"
      ? rawSqlite(database.filename!)
      : await rawPg(database.url!, database.schema!, true)
    const ours = { name: "TokenBudget reserve + commit", run: (n: number) => runtime.runPromise(pairs(budget, n)) }
    const side = (r: { readonly pair: () => Promise<void> }) => ({
      name: "raw",
      run: async (n: number) => {
        for (let i = 0; i < n; i++) await r.pair()
      }
    })
    try {
      const comparison = await Bench.compare(ours, side(raw), { ops, rounds: 9 })
      const figures: Array<Bench.Figure> = []
      figures.push(Bench.comparedFigure({
        name: `reserve + commit, one pair (${backend})`,
        comparison,
        baselineName: backend === "sqlite" ? `better-sqlite3: ${SQLITE_MINIMAL}` : `pg: ${PG_MINIMAL}`,
        config: backend === "sqlite"
          ? {
            backend,
            statements: SQLITE_MINIMAL,
            ours: "reserve: one statement, the reservation's INSERT … SELECT guarded by the agent's row (the tokens " +
              "fit) and the team's (this period and total, no expiry or prune due, nothing lent), whose trigger " +
              "adds to the agent's reserved; commit: one statement, the reservation's conditional UPDATE, whose " +
              "trigger charges the agent and the team's use",
            journal: "WAL",
            synchronous: "default (FULL)",
            busyTimeoutMs: 5000,
            layerTracing: "on"
          }
          : {
            backend,
            statements: PG_MINIMAL,
            ours: "reserve: one statement (a CTE: the team's row FOR KEY SHARE under the guard, the agent's " +
              "conditional UPDATE, the reservation INSERT); commit: one statement (a CTE: the team's row FOR KEY " +
              "SHARE, the reservation's conditional UPDATE, the agent's UPDATE, the team's use)",
            poolSize: "4 (ours) / 1 client (raw)",
            layerTracing: "on",
            local: true
          },
        target: { source: SOURCE, maxRatio },
        note: `${Math.round(1e6 / comparison.ours)} pairs/s; the raw side ${Math.round(1e6 / comparison.baseline)} ` +
          "pairs/s. Both on the same tables; ours also guards on the team's row and keeps the team's use" +
          (backend === "postgres" ? "; the raw side's statements are named (prepared), ours cannot be" : "")
      }))
      if (backend === "postgres") {
        // The same raw statements unnamed, as @effect/sql-pg sends ours: what
        // server-side preparation is worth in the ratio above.
        const unnamed = await rawPg(database.url!, database.schema!, false)
        try {
          const c = await Bench.compare(ours, side(unnamed), { ops, rounds: 9 })
          figures.push(Bench.comparedFigure({
            name: "reserve + commit, one pair (postgres), against unprepared raw statements",
            comparison: c,
            baselineName: `pg: ${PG_MINIMAL}, unnamed (parsed and planned on every call)`,
            config: { backend, statements: PG_MINIMAL, prepared: false, poolSize: "4 (ours) / 1 client (raw)" },
            note: "informational: @effect/sql-pg sends every statement unnamed, so ours are parsed and planned " +
              "on every call; the target is held against the prepared peer above"
          }))
        } finally {
          await unnamed.close()
        }
        // The floor of any ledger built on @effect/sql-pg: the raw side's two
        // statements, sent through the same SqlClient ours uses, against the
        // named raw ones. Whatever ratio this shows, ours cannot go below it.
        const floor = {
          name: "bare @effect/sql-pg",
          run: (n: number) =>
            runtime.runPromise(
              Effect.flatMap(SqlClient.SqlClient, (sql) =>
                Effect.forEach(Array.from({ length: n }), () => {
                  const id = `floor-${++rawCounter}`
                  return Effect.zipRight(
                    sql.unsafe(PG_RESERVE, [100, RAW_TEAM, "a", id]),
                    sql.unsafe(PG_SETTLE, [60, RAW_TEAM, id])
                  )
                }, { discard: true }))
            )
        }
        const f = await Bench.compare(floor, side(raw), { ops, rounds: 9 })
        figures.push(Bench.comparedFigure({
          name: "floor: the raw statements through @effect/sql-pg, against the same statements named (postgres)",
          comparison: f,
          baselineName: `pg: ${PG_MINIMAL}`,
          config: {
            backend,
            statements: PG_MINIMAL,
            ours: "the same two statements, sent by @effect/sql-pg (unnamed)"
          },
          note: "informational: the lowest ratio any ledger sending its statements through @effect/sql-pg " +
            "can reach here, whatever its statements"
        }))
      }
      return figures
    } finally {
      await raw.close()
    }
  } finally {
    await runtime.dispose()
  }
}

const main = async () => {
  const figures: Array<Bench.Figure> = []
  for (const figure of await fairness()) figures.push(figure)
  figures.push(await memoryFigure())
  for (const figure of await sqlFigure("sqlite", Backends.sqlite(), 3.5, 300)) figures.push(figure)
  if (Backends.pgUrl() !== undefined) {
    for (const figure of await sqlFigure("postgres", Backends.postgres(), 1.5, 150)) figures.push(figure)
  }
  const file = Bench.writeResults("budget", "pnpm --filter @agentos/budget bench", figures)
  for (const f of figures) {
    console.log(
      `${f.name}: ${f.value} ${f.unit}${f.baseline ? ` (${f.baseline.name}: ${f.baseline.value})` : ""}${
        f.ratio === undefined ? "" : ` ratio ${f.ratio}`
      }${f.note === undefined ? "" : ` — ${f.note}`}`
    )
  }
  console.log(`wrote ${file}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
