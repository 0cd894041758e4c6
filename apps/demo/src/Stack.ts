// The wiring: the article's layered architecture in one file, and the one
// place to swap a layer. Each line names the layer that provides a service;
// replace it with your own layer for the same Tag (a Redis state store, a
// company queue, a real provider) and nothing else changes.
//
//   alerts      Alerts                ← dlq, budget, router and supervisor events
//   team        Team (Supervisor)     ← admission: TokenBudget policy + router SpendAdmission
//   queue       TaskQueue             ← the supervisor's durable queue, shared by every instance on the database
//   models      LanguageModel         ← the router's routed @effect/ai model over its simulated provider
//   router      Router, SpendLedger   ← spend budgets per agent and for the team
//   budget      TokenBudget           ← the team's daily tokens, weighted per agent
//   state       SharedState           ← versioned shared state
//   memory      AgentMemory           ← memory with decay (buildContext for prompts)
//   checkpoint  WorkflowEngine        ← CheckpointStore; dead letters through dlq's port
//   dlq         DeadLetterQueue
//   core        SqlClient, IdGenerator ← one SQLite file, or Postgres with DATABASE_URL
import { TokenBudget } from "@agentos/budget"
import { CheckpointStore, WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import { AgentMemory } from "@agentos/memory"
import { Router, SpendAdmission, SpendLedger } from "@agentos/router"
import type { DecisionLog } from "@agentos/router"
import { SharedState } from "@agentos/state"
import { TaskQueue } from "@agentos/supervisor"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Alerts from "./Alerts.js"
import * as Config from "./Config.js"
import type { AppConfig } from "./Config.js"
import * as Models from "./Models.js"
import { TEAM, TEAM_SCOPE } from "./Models.js"
import * as Team from "./Team.js"

export { TEAM, TEAM_SCOPE } from "./Models.js"

/** Where the stores live: one SQLite file under the data directory, or the Postgres of DATABASE_URL. */
export const sql = (config: AppConfig): Layer.Layer<SqlClient.SqlClient, unknown> =>
  Option.match(config.databaseUrl, {
    onNone: () =>
      Layer.unwrapEffect(Effect.sync(() => {
        Fs.mkdirSync(config.dataDir, { recursive: true })
        const client = SqliteClient.layer({ filename: Path.join(config.dataDir, "agentos.db") })
        // Set whatever the build's default (better-sqlite3 compiles WAL mode's to NORMAL).
        const pragma = Layer.effectDiscard(Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql.unsafe(`PRAGMA synchronous = ${config.sqliteSynchronous === "full" ? "FULL" : "NORMAL"}`)
        ))
        return Layer.provideMerge(pragma, client)
      })),
    onSome: (url) => PgClient.layer({ url, maxConnections: 10 })
  })

/** A description of the storage for the terminal. */
export const storage = (config: AppConfig): string =>
  Option.isSome(config.databaseUrl)
    ? "postgres (DATABASE_URL)"
    : `sqlite ${Path.join(config.dataDir, "agentos.db")}`

/** The spend budgets: the team's, and half of it for each agent (per day). */
const spendBudgets = (config: AppConfig) => ({
  budgets: [
    { scope: TEAM_SCOPE, limit: config.spendLimitMicros, period: { unit: "day" as const } },
    ...config.agents.map((agent) => ({
      scope: `agent:${agent}`,
      limit: Math.max(1, Math.floor(config.spendLimitMicros / 2)),
      period: { unit: "day" as const }
    }))
  ]
})

/** Every store on one `SqlClient`; each runs its own migrations. */
const stores = (config: AppConfig) =>
  Layer.mergeAll(
    CheckpointStore.layerSql(),
    // Letters are redacted before they are stored or alerted: the configured secrets and the dlq's defaults.
    DeadLetterQueue.layerSql({ redact: Config.redaction(config) }),
    SharedState.layerSql(),
    TaskQueue.layerSql(),
    AgentMemory.layerSql({ team: TEAM }),
    TokenBudget.layerSql({ team: TEAM, total: config.tokenBudget, period: { unit: "day" } }),
    SpendLedger.layerSql(spendBudgets(config))
  )

/**
 * Every store in this process's memory (the day-long simulation's stack):
 * the same services as `stores`, with the memory's options given.
 */
export const storesMemory = (config: AppConfig, memory: AgentMemory.Options = {}) =>
  Layer.mergeAll(
    CheckpointStore.layerMemory(),
    DeadLetterQueue.layerMemory({ redact: Config.redaction(config) }),
    SharedState.layerMemory(),
    TaskQueue.layerMemory(),
    AgentMemory.layerMemory({ ...memory, team: TEAM }),
    TokenBudget.layerMemory({ team: TEAM, total: config.tokenBudget, period: { unit: "day" } }),
    SpendLedger.layerMemory(spendBudgets(config))
  )

/**
 * The whole stack over a `SqlClient` (the app passes `sql(config)`; tests pass
 * a throw-away database).
 */
export const layer = <E>(config: AppConfig, sqlClient: Layer.Layer<SqlClient.SqlClient, E>) =>
  instance(config, Models.layer(config)).pipe(
    Layer.provideMerge(Layer.merge(stores(config), IdGenerator.layer).pipe(Layer.provide(sqlClient)))
  )

/**
 * One process of the service over stores built elsewhere: the engine, the
 * router, the models (the app passes `Models.layer(config)`), the team and
 * its alerts. Built again over the same stores, it is a restarted process.
 */
export const instance = <E, R>(
  config: AppConfig,
  models: Layer.Layer<LanguageModel.LanguageModel | DecisionLog.DecisionLog, E, R>
) => {
  // The checkpoint engine retries steps and sends a failed workflow to the dead letter queue.
  const engine = WorkflowEngine.layer({ leaseTtl: config.leaseTtl }).pipe(
    Layer.provide(DeadLetterQueue.layerPort)
  )
  const router = Router.layer()
  // The routed LanguageModel over the simulated provider (Models.layer): swap the provider there for real models.
  // The supervisor admits a task only if the token budget reserves its estimate and its spend scopes have money left.
  const team = Layer.unwrapEffect(Effect.gen(function*() {
    const budget = yield* TokenBudget.TokenBudget
    // The first agent leads: twice the others' share of the tokens. One rebalance for the whole team.
    yield* budget.registerAll(config.agents.map((agent, i) => ({ id: agent, weight: i === 0 ? 2 : 1 })))
    const tokens = yield* TokenBudget.makeAdmissionPolicy(budget)
    const spend = SpendAdmission.make(yield* SpendLedger.SpendLedger, { teamOf: () => TEAM_SCOPE })
    return Team.layer(config, [tokens, spend])
  }))
  return Alerts.layer(config).pipe(
    Layer.provideMerge(team),
    Layer.provideMerge(models),
    Layer.provideMerge(router),
    Layer.provideMerge(engine)
  )
}
