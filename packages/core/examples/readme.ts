// The example of README.md, verbatim (test/example.test.ts runs it).
import { IdGenerator, Ids, Money, Pricing, Sql, TokenCounter, TokenUsage } from "@agentos/core"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Console, Effect, Layer } from "effect"

const program = Effect.gen(function*() {
  const counter = yield* TokenCounter.TokenCounter
  const inputTokens = counter.count("Summarise the three most cited papers on RAG.")
  const pricing = Pricing.make({ input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000 })
  const cost = Pricing.cost(pricing, TokenUsage.make({ inputTokens, outputTokens: 350 }))
  const taskId = yield* IdGenerator.make(Ids.TaskId)
  yield* Console.log(`task ${taskId}: ${inputTokens} tokens, cost ${Money.format(cost)}`)

  const sql = yield* SqlClient.SqlClient
  yield* Sql.migrate({
    packageName: "example",
    migrations: {
      "0001_create_calls": sql`CREATE TABLE agentos_example_calls (id text PRIMARY KEY, at bigint NOT NULL)`
    }
  })
  yield* sql`INSERT INTO agentos_example_calls VALUES (${taskId}, ${Sql.nowMillis(sql)})`
})

Effect.runPromise(program.pipe(Effect.provide(Layer.mergeAll(
  TokenCounter.layer,
  IdGenerator.layer,
  SqliteClient.layer({ filename: "agentos.db" })
))))
