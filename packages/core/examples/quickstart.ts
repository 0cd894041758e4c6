// A runnable tour of @agentos/core: count a prompt's tokens, price a call
// exactly, make ids, and run a package's migrations on an embedded SQLite
// file with the database's own clock. Run: pnpm tour
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Console, Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { IdGenerator, Ids, Money, Pricing, Sql, TokenCounter, TokenUsage } from "../src/index.js"

const program = Effect.gen(function*() {
  const counter = yield* TokenCounter.TokenCounter
  const prompt = "Summarise the three most cited papers on retrieval-augmented generation."
  const inputTokens = counter.count(prompt)

  // gpt-4o-like prices: $2.50 / 1M input, $1.25 / 1M cached input, $10 / 1M output
  const pricing = Pricing.make({ input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000 })
  const usage = TokenUsage.make({ inputTokens, outputTokens: 350 })
  const cost = Pricing.cost(pricing, usage)
  const taskId = yield* IdGenerator.make(Ids.TaskId)
  yield* Console.log(`task ${taskId}: ${inputTokens} input tokens (${counter.encoding}), cost ${Money.format(cost)}`)

  const sql = yield* SqlClient.SqlClient
  const ran = yield* Sql.migrate({
    packageName: "example",
    migrations: {
      "0001_create_calls": sql`CREATE TABLE agentos_example_calls (
        id text PRIMARY KEY, usage ${Sql.jsonType(sql)} NOT NULL, cost_micros bigint NOT NULL, at bigint NOT NULL)`
    }
  })
  yield* sql`INSERT INTO agentos_example_calls (id, usage, cost_micros, at)
             VALUES (${taskId}, ${Sql.json(sql, usage)}, ${cost}, ${Sql.nowMillis(sql)})`
  const rows = yield* sql<{ usage: unknown; cost_micros: unknown; at: unknown }>`SELECT * FROM agentos_example_calls`
  const stored = Sql.parseJson(rows[0]!.usage) as TokenUsage.TokenUsage
  yield* Console.log(
    `migrations run: ${
      ran.map(([id, name]) => `${id}_${name}`).join(", ")
    }; stored ${stored.inputTokens}+${stored.outputTokens} tokens, ` +
      `${Money.format(Money.micros(Sql.toNumber(rows[0]!.cost_micros)))} at database time ${
        new Date(Sql.toNumber(rows[0]!.at)).toISOString()
      }`
  )
})

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-quickstart-"))
const MainLayer = Layer.mergeAll(
  TokenCounter.layer,
  IdGenerator.layer,
  SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
)

Effect.runPromise(Effect.provide(program, MainLayer)).then(
  () => Fs.rmSync(dir, { recursive: true, force: true }),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
