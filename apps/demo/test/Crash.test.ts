// A crash, not a stop: the service is killed with SIGKILL in the middle of a
// run (no finalizer runs, nothing is handed back), then started again on the
// same data directory. The tasks it was running come back to the queue when
// their leases expire, and every workflow completes.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort, root } from "./harness.js"

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls `check` until it returns a value, at most `timeoutMillis`. */
const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  timeoutMillis: number
): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not in ${timeoutMillis} ms: ${what}`)
    await sleep(200)
  }
}

const get = async (base: string, path: string) => {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) })
  return { status: response.status, body: await response.json() as any }
}

describe("pnpm demo, killed", () => {
  it(
    "SIGKILL mid-run, started again: the running tasks come back after their lease and every workflow completes",
    async () => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-crash-"))
      const port = await Effect.runPromise(freePort)
      const base = `http://127.0.0.1:${port}`
      const children: Array<ChildProcess> = []
      let output = ""
      const startService = async () => {
        const child = spawn("pnpm", ["demo"], {
          cwd: root,
          detached: true, // its own process group: pnpm, tsx and node are killed together
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            PORT: String(port),
            AGENTOS_DATA_DIR: dir,
            AGENTOS_TEAM: "false",
            AGENTOS_SIM_LATENCY: "300 millis",
            AGENTOS_SIM_FAILURE_RATE: "0",
            AGENTOS_TASK_LEASE: "2 seconds",
            AGENTOS_TASK_POLL_INTERVAL: "200 millis",
            AGENTOS_LEASE_TTL: "2 seconds"
          }
        })
        children.push(child)
        child.stdout!.on("data", (chunk) => (output += chunk))
        child.stderr!.on("data", (chunk) => (output += chunk))
        await eventually(
          "the service answers /healthz",
          async () => (await get(base, "/healthz")).status === 200 ? true : undefined,
          45_000
        )
        return child
      }
      const kill = (child: ChildProcess) => {
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {
          // already gone
        }
      }
      try {
        const first = await startService()
        const ids: Array<string> = []
        for (let i = 0; i < 6; i++) {
          const response = await fetch(`${base}/workflows`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ topic: `crash ${i}` }),
            signal: AbortSignal.timeout(5_000)
          })
          assert.strictEqual(response.status, 202)
          ids.push((await response.json() as { id: string }).id)
        }
        // Killed once some workflow is part-way: a step checkpointed, the rest not.
        await eventually("a workflow part-way", async () => {
          const running = await get(base, "/workflows?status=running")
          return running.body.items.some((w: any) => w.steps.some((s: any) => s.status === "completed"))
            ? true
            : undefined
        }, 20_000)
        kill(first)
        await eventually(
          "the killed service is gone",
          () => get(base, "/healthz").then(() => undefined, () => true),
          10_000
        )

        await startService()
        for (const id of ids) {
          const task = await eventually(`task ${id} ends`, async () => {
            const r = await get(base, `/tasks/${id}`)
            return r.body.status === "accepted" ? undefined : r.body
          }, 30_000)
          assert.strictEqual(task.status, "completed", JSON.stringify(task))
          const workflow = await get(base, `/workflows/${id}`)
          assert.deepStrictEqual(workflow.body.steps.map((s: any) => s.status), [
            "completed",
            "completed",
            "completed",
            "completed"
          ])
        }
      } catch (error) {
        throw new Error(`${String(error)}\n${output.slice(-3000)}`)
      } finally {
        for (const child of children) kill(child)
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    },
    240_000
  )
})
