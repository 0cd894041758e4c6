// Child processes of the chaos run: the service (`src/main.ts`) and its load
// generator (`src/load/main.ts`), started with Node and tsx from apps/demo,
// each in its own process group so that a SIGKILL takes the whole process.
// Everything listens and connects on 127.0.0.1 only.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** apps/demo: where the service's sources are run from. */
export const appDir = Path.resolve(import.meta.dirname, "../..")

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** Polls `check` until it returns a value, at most `timeoutMillis`; a rejection counts as "not yet". */
export const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  timeoutMillis: number,
  everyMillis = 200
): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not in ${timeoutMillis} ms: ${what}`)
    await sleep(everyMillis)
  }
}

export interface Child {
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
}

const live = new Set<ChildProcess>()

/** SIGKILL to every child still running (an interrupted run: SIGINT). */
export const killAll = () => {
  for (const child of live) {
    try {
      process.kill(-child.pid!, "SIGKILL")
    } catch {
      // already gone
    }
  }
}

/** Runs `script` (relative to apps/demo) with tsx, its output appended to `logFile`. */
export const node = (script: string, args: ReadonlyArray<string>, env: Record<string, string>, logFile: string) => {
  const log = Fs.openSync(logFile, "a")
  const child = spawn(process.execPath, ["--conditions=@agentos/source", "--import", "tsx", script, ...args], {
    cwd: appDir,
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, ...env }
  })
  Fs.closeSync(log)
  live.add(child)
  child.once("exit", () => live.delete(child))
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? null : -1)))
    child.once("error", () => resolve(-1))
  })
  return { process: child, exited } satisfies Child
}

/** SIGKILL to the child's whole process group; then waits for it to be gone. */
export const kill = async (child: Child) => {
  try {
    process.kill(-child.process.pid!, "SIGKILL")
  } catch {
    // already gone
  }
  await child.exited
}

/** SIGTERM (the service drains), SIGKILL after `graceMillis`; true when it exited by itself. */
export const stop = async (child: Child, graceMillis: number): Promise<boolean> => {
  try {
    process.kill(-child.process.pid!, "SIGTERM")
  } catch {
    return true
  }
  const timer = sleep(graceMillis).then(() => false)
  const exited = await Promise.race([child.exited.then(() => true), timer])
  if (!exited) await kill(child)
  return exited
}

/** GET with a bound on its time; the parsed JSON body. */
export const getJson = async (base: string, path: string, timeoutMillis = 5_000) => {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMillis) })
  return { status: response.status, body: await response.json() as any }
}

/** Starts the service and waits until `/healthz` answers 200. */
export const startService = async (options: {
  readonly port: number
  readonly env: Record<string, string>
  readonly logFile: string
  readonly timeoutMillis?: number
}): Promise<Child> => {
  const child = node(
    "src/main.ts",
    [],
    { ...options.env, PORT: String(options.port), HOST: "127.0.0.1" },
    options.logFile
  )
  const base = `http://127.0.0.1:${options.port}`
  try {
    await Promise.race([
      eventually(
        `the service on port ${options.port} answers /healthz`,
        async () => (await getJson(base, "/healthz", 2_000)).status === 200 ? true : undefined,
        options.timeoutMillis ?? 180_000
      ),
      child.exited.then((code) => {
        throw new Error(`the service exited with ${code} before it answered /healthz`)
      })
    ])
  } catch (error) {
    await kill(child)
    const tail = Fs.existsSync(options.logFile) ? Fs.readFileSync(options.logFile, "utf8").slice(-2_000) : ""
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${tail}`)
  }
  return child
}

/** A Postgres URL with its database replaced by `database`. */
export const withDatabase = (url: string, database: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/**
 * Runs `statements` with psql on `url` (stopping at the first error, 30 s at
 * most); returns its output, unaligned, tuples only, tab-separated.
 */
export const psql = (url: string, statements: string): string => {
  const result = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t"], {
    input: statements,
    encoding: "utf8",
    timeout: 30_000
  })
  if (result.status !== 0) throw new Error(`psql: ${statements}: ${result.stderr || result.error?.message}`)
  return result.stdout
}

/**
 * A fresh database `agentos_chaos_<random>` on the server of `adminUrl`
 * (never the database other suites use); `drop` removes it.
 */
export const freshDatabase = (adminUrl: string) => {
  const name = `agentos_chaos_${randomBytes(6).toString("hex")}`
  psql(adminUrl, `CREATE DATABASE ${name}`)
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}
