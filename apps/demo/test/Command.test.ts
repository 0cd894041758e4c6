// The root README's first command: `pnpm demo` starts the service, which
// answers /healthz; SIGTERM drains it and the process exits.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort, root } from "./harness.js"

describe("pnpm demo", () => {
  it("starts the service, answers /healthz, and stops on SIGTERM", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-cmd-"))
    const port = await Effect.runPromise(freePort)
    const child = spawn("pnpm", ["demo"], {
      cwd: root,
      detached: true, // its own process group: pnpm, tsx and node are stopped together
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PORT: String(port), AGENTOS_DATA_DIR: dir, AGENTOS_TEAM_INTERVAL: "1 second" }
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    // "close": every process holding the output pipes (pnpm, tsx, the service) has exited.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)))
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal)
      } catch {
        // already gone
      }
    }
    try {
      let health: { status: number; body: string } | undefined
      const deadline = Date.now() + 50_000
      // Until the service has started it refuses (503) or is not listening yet.
      while (health?.status !== 200 && Date.now() < deadline) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) })
          health = { status: response.status, body: await response.text() }
        } catch {
          // not listening yet
        }
        if (health?.status !== 200) await new Promise((resolve) => setTimeout(resolve, 250))
      }
      assert.deepStrictEqual(health, { status: 200, body: "{\"status\":\"ok\"}" }, output)
      assert.include(output, `http://127.0.0.1:${port}/docs`)
      assert.include(output, `sqlite ${Path.join(dir, "agentos.db")}`)
      // SIGTERM to the service itself, as a container runtime sends it to its process.
      const pid = /kill -TERM (\d+)/.exec(output)
      assert.isNotNull(pid, output)
      process.kill(Number(pid![1]), "SIGTERM")
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 20_000))])
      assert.notStrictEqual(code, "timeout", `still running 20 s after SIGTERM:\n${output}`)
      assert.include(output, "draining", output)
    } finally {
      kill("SIGKILL")
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 80_000)
})
