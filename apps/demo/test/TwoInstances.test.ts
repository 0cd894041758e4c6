// Two service instances (child processes) on one Postgres database share the
// work; one is SIGKILLed while it runs tasks; the other takes them over when
// their leases expire and finishes every task and workflow. Service.test.ts
// covers two instances sharing work without a kill; Crash.test.ts one
// instance killed and started again.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Chaos from "../src/chaos/Chaos.js"
import * as Check from "../src/chaos/Check.js"
import { type Child, eventually, freshDatabase, getJson, kill, startService, stop } from "../src/chaos/Process.js"
import { freePort } from "./harness.js"

describe("two instances on one Postgres, one killed", () => {
  it.live.skipIf(Backends.skipPostgres())(
    "the survivor finishes every task and workflow, each step committed once",
    () =>
      Effect.promise(async () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-two-"))
        const database = freshDatabase(Backends.pgUrl()!)
        const witnessDir = Path.join(dir, "witness")
        const children: Array<Child> = []
        const logs: Array<string> = []
        const instance = async (name: string) => {
          const port = await Effect.runPromise(freePort)
          const logFile = Path.join(dir, `${name}.log`)
          logs.push(logFile)
          const env = Chaos.serviceEnv({
            dataDir: Path.join(dir, name),
            witnessDir,
            databaseUrl: database.url,
            failureRate: 0,
            // Slow model calls: a workflow takes seconds, so the kill finds instance a mid-run.
            latency: "1 second",
            // A lease long enough that the survivor, starved of CPU on a busy machine, keeps its own
            // tasks' leases (three expired leases make a task poison): only the killed one's expire.
            taskLease: "10 seconds"
          })
          const child = await startService({ port, env, logFile })
          children.push(child)
          return { child, base: `http://127.0.0.1:${port}` }
        }
        try {
          // One after the other (each runs its migrations), then both serve.
          const a = await instance("a")
          const b = await instance("b")
          const ids: Array<string> = []
          for (let i = 0; i < 16; i++) {
            const response = await fetch(`${(i % 2 === 0 ? a : b).base}/workflows`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ topic: `two instances ${i}` }),
              signal: AbortSignal.timeout(10_000)
            })
            assert.strictEqual(response.status, 202)
            ids.push((await response.json() as { id: string }).id)
          }
          // Killed while it runs tasks, one of them part-way through its steps.
          await eventually(
            "instance a runs tasks, one part-way",
            async () => {
              const supervisor = await getJson(a.base, "/supervisor")
              const running = await getJson(a.base, "/workflows?status=running")
              return supervisor.body.running > 0 &&
                  running.body.items.some((w: any) => w.steps.some((s: any) => s.status === "completed"))
                ? true
                : undefined
            },
            60_000,
            100
          )
          await kill(a.child)

          for (const id of ids) {
            const task = await eventually(`task ${id} ends on instance b`, async () => {
              const r = await getJson(b.base, `/tasks/${id}`)
              return r.status === 200 && r.body.status !== "accepted" ? r.body : undefined
            }, 120_000)
            assert.strictEqual(task.status, "completed", JSON.stringify(task))
            const workflow = await getJson(b.base, `/workflows/${id}`)
            assert.deepStrictEqual(workflow.body.steps.map((s: any) => s.status), [
              "completed",
              "completed",
              "completed",
              "completed"
            ])
          }
          await stop(b.child, 20_000)

          const findings = await Effect.runPromise(
            Check.check({ acceptedIds: ids, acceptedCount: ids.length, witnessDir, tokenBudget: Chaos.TOKEN_BUDGET })
              .pipe(
                Effect.provide(Check.layer(Chaos.TOKEN_BUDGET)),
                Effect.provide(Chaos.sqlLayer({ dataDir: dir, databaseUrl: database.url })),
                Effect.scoped
              )
          )
          assert.deepStrictEqual(findings.violations, [], JSON.stringify(findings.counts))
          assert.strictEqual(findings.counts["workflows completed"], ids.length)
          // The killed instance held tasks: they came back and ran on the survivor.
          assert.isAbove(findings.counts["tasks lost by a killed runner at least once"] ?? 0, 0)
        } catch (error) {
          const tails = logs.map((file) => Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").slice(-1_500) : "")
          throw new Error(`${String(error)}\n${tails.join("\n---\n")}`)
        } finally {
          for (const child of children) await kill(child)
          database.drop()
          Fs.rmSync(dir, { recursive: true, force: true })
        }
      }),
    { timeout: 300_000 }
  )
})
