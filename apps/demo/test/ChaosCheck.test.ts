// The chaos run's checks (src/chaos/Check.ts) bite: over a clean run they
// find nothing, and each kind of lost or doubled work, planted in the
// database afterwards, is reported.
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import * as Path from "node:path"
import * as Check from "../src/chaos/Check.js"
import { client, config, eventually, start, tempDir } from "./harness.js"

const TOKEN_BUDGET = 10_000_000

describe("chaos checks", () => {
  it.live(
    "a clean run passes; a task left open, a changed step result, a doubled step and a wrong charge are each found",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const witnessDir = Path.join(dir, "witness")
        const sqlite = SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
        const previous = process.env.AGENTOS_WITNESS_DIR
        process.env.AGENTOS_WITNESS_DIR = witnessDir
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env.AGENTOS_WITNESS_DIR
            else process.env.AGENTOS_WITNESS_DIR = previous
          })
        )
        const ids = yield* Effect.scoped(Effect.gen(function*() {
          const { base } = yield* start(config({ simLatency: Duration.millis(5), tokenBudget: TOKEN_BUDGET }), sqlite)
          const http = client(base)
          const ids: Array<string> = []
          for (let i = 0; i < 3; i++) {
            const r = yield* http.request("POST", "/workflows", { body: { topic: `checked ${i}` } })
            assert.strictEqual(r.status, 202, r.text)
            ids.push(r.body.id)
          }
          for (const id of ids) {
            const task = yield* eventually(
              Effect.map(http.request("GET", `/tasks/${id}`), (r) => r.body?.status === "accepted" ? undefined : r.body)
            )
            assert.strictEqual(task.status, "completed", JSON.stringify(task))
          }
          return ids
        }))
        const check = (acceptedCount: number) =>
          Check.check({ acceptedIds: ids, acceptedCount, witnessDir, tokenBudget: TOKEN_BUDGET }).pipe(
            Effect.provide(Check.layer(TOKEN_BUDGET)),
            Effect.scoped
          )
        const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
          Effect.provide(effect, Layer.fresh(sqlite))

        const clean = yield* run(check(ids.length))
        assert.deepStrictEqual(clean.violations, [])
        assert.strictEqual(clean.counts["tasks completed"], 3)
        assert.strictEqual(clean.counts["workflows completed"], 3)
        assert.strictEqual(clean.counts["step results committed"], 12)
        assert.strictEqual(clean.counts["model calls billed"], 12)
        assert.isAbove(clean.counts["spend billed by the provider (µ$)"]!, 0)
        assert.strictEqual(
          clean.counts["spend recorded for billed calls, team scope (µ$)"],
          clean.counts["spend billed by the provider (µ$)"]
        )

        // More 202s counted than tasks stored: work was lost.
        const lost = yield* run(check(ids.length + 1))
        assert.isTrue(lost.violations.some((v) => v.includes("only 3 are stored")), lost.violations.join("\n"))

        const [a, b, c] = ids as [string, string, string]
        const planted = yield* run(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`UPDATE agentos_supervisor_tasks SET state = 'running' WHERE id = ${a}`
            const rows = yield* sql<{ state: string; completed_steps: string }>`
            SELECT state, completed_steps FROM agentos_checkpoint_workflows WHERE workflow_id = ${b}`
            const state = JSON.parse(rows[0]!.state) as Record<string, unknown>
            const steps = JSON.parse(rows[0]!.completed_steps) as Array<string>
            yield* sql`UPDATE agentos_checkpoint_workflows
            SET state = ${JSON.stringify({ ...state, sources: "not what the step produced" })},
                completed_steps = ${JSON.stringify([...steps, "format"])}
            WHERE workflow_id = ${b}`
            const reservation = yield* sql<{ id: string }>`
            SELECT id FROM agentos_router_reservations WHERE state = 'settled' ORDER BY id LIMIT 1`
            yield* sql`UPDATE agentos_router_reservations SET charged = charged + 1 WHERE id = ${reservation[0]!.id}`
            return c
          }).pipe(Effect.zipRight(check(ids.length)))
        )
        const found = (text: string) =>
          assert.isTrue(planted.violations.some((v) => v.includes(text)), `${text}\n${planted.violations.join("\n")}`)
        found(`task ${a} is running, not in a terminal state`)
        found(`workflow ${b}: step search-sources's committed result is none its runs produced`)
        found(`workflow ${b}: step format committed twice`)
        found("recorded")
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: 120_000 }
  )
})
