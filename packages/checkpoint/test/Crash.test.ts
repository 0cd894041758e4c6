// A real crash: a child process runs the five-step workflow on a SQLite file
// (and on Postgres), is SIGKILLed inside step 3, and a new process resumes it.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { expected } from "../src/Testing.js"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const runner = Path.join(packageDir, "test", "crash", "runner.ts")

interface Child {
  readonly process: ChildProcess.ChildProcess
  readonly done: Promise<{ readonly code: number | null; readonly signal: string | null; readonly stdout: string }>
}

const spawn = (env: Record<string, string>): Child => {
  const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "--conditions=@agentos/source", runner], {
    cwd: packageDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += String(chunk)))
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) =>
    child.on("exit", (code, signal) => {
      if (code !== 0 && signal === null) process.stderr.write(`crash runner failed:\n${stderr}\n`)
      resolve({ code, signal, stdout })
    })
  )
  return { process: child, done }
}

const markersOf = (file: string): Array<[step: string, pid: number]> =>
  Fs.existsSync(file)
    ? Fs.readFileSync(file, "utf8").trim().split("\n").filter((line) => line !== "").map((line) => {
      const [step, pid] = line.split(" ")
      return [step!, Number(pid)]
    })
    : []

const waitFor = async (condition: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the child")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const crashAndResume = async (backend: "sqlite" | "postgres", database: string, dir: string) => {
  const markers = Path.join(dir, "markers.log")
  const base = { BACKEND: backend, DATABASE: database, MARKERS: markers }
  const children: Array<Child> = []
  try {
    // An uninterrupted run, for the reference final state.
    const reference = spawn({ ...base, WORKFLOW_ID: "reference", MARKERS: Path.join(dir, "reference.log") })
    children.push(reference)
    const referenceResult = await reference.done
    assert.strictEqual(referenceResult.code, 0)

    const first = spawn({ ...base, WORKFLOW_ID: "crashy", HANG_AT: "2" })
    children.push(first)
    await waitFor(() => markersOf(markers).some(([step]) => step === "s3"), 30_000)
    first.process.kill("SIGKILL")
    const killed = await first.done
    assert.strictEqual(killed.signal, "SIGKILL")

    const second = spawn({ ...base, WORKFLOW_ID: "crashy" })
    children.push(second)
    const resumed = await second.done
    assert.strictEqual(resumed.code, 0)

    const firstPid = first.process.pid!
    const secondPid = second.process.pid!
    assert.deepStrictEqual(markersOf(markers), [
      ["s1", firstPid],
      ["s2", firstPid],
      ["s3", firstPid],
      ["s3", secondPid],
      ["s4", secondPid],
      ["s5", secondPid]
    ])
    const final = JSON.parse(resumed.stdout.trim())
    assert.deepStrictEqual(final, JSON.parse(referenceResult.stdout.trim()))
    assert.deepStrictEqual(final, expected)
  } finally {
    for (const child of children) if (child.process.exitCode === null) child.process.kill("SIGKILL")
  }
}

describe("a real crash (SIGKILL inside step 3), then a new process resumes", () => {
  it("on a SQLite file", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-checkpoint-crash-"))
    try {
      await crashAndResume("sqlite", Path.join(dir, "workflows.db"), dir)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it.skipIf(Backends.pgUrl() === undefined)("on Postgres", async () => {
    const url = Backends.pgUrl()!
    const schema = `agentos_crash_${process.pid}_${Crypto.randomBytes(4).toString("hex")}`
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-checkpoint-crash-"))
    try {
      await admin.query(`CREATE SCHEMA ${schema}`)
      const schemaUrl = new URL(url)
      schemaUrl.searchParams.set("options", `-c search_path=${schema}`)
      await crashAndResume("postgres", schemaUrl.toString(), dir)
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)
})
