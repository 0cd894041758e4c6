// The chaos run's short version (the full one is `pnpm chaos`): the service as
// a child process with its load generator, SIGKILLed three times at seeded
// moments and started again, on SQLite and on a fresh Postgres database. Then
// every accepted task is terminal, every workflow completed or failed with
// its cause, no step result committed twice, billed tokens match the spend
// recorded, the budget's invariants hold and every store reads back
// (src/chaos/Check.ts). Every violation fails the test, a task failed as
// poison leaving its workflow "running" (Check.POISON_LEFT_RUNNING) included.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Chaos from "../src/chaos/Chaos.js"
import { runBackend } from "../src/chaos/main.js"

const short = {
  kills: 3,
  seed: 19,
  loadTasks: [3, 6] as const,
  killAfterMillis: [0, 2_000] as const,
  loadAgents: 2,
  probeEveryMillis: 1_000,
  finishMillis: 120_000
}

const backends = Backends.skipPostgres() ? ["sqlite" as const] : ["sqlite" as const, "postgres" as const]

describe("chaos, short", () => {
  it.live.each(backends)(
    "three SIGKILLs under load (%s): nothing accepted is lost, nothing committed twice",
    (backend) =>
      Effect.promise(async () => {
        const lines: Array<string> = []
        const report = await runBackend(backend, { ...short, log: (line) => lines.push(line) }, Backends.pgUrl() ?? "")
        const printed = `${lines.join("\n")}\n${Chaos.format(report)}`
        assert.deepStrictEqual(report.violations, [], printed)
        assert.strictEqual(report.killedAfterMillis.length, 3)
        const accepted = report.counts["tasks accepted (202, all clients)"]!
        assert.isAbove(accepted, 0, printed)
        assert.isAtLeast(report.counts["tasks stored"]!, accepted, printed)
        assert.isAbove(report.counts["step results committed"]!, 0, printed)
        assert.isAbove(report.counts["model calls billed"]!, 0, printed)
      }),
    // A bound on the run (three restarts of the service on a shared machine), not a timing assertion.
    { timeout: 480_000 }
  )
})
