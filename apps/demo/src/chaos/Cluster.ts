// A private PostgreSQL cluster for the full-length chaos run: initdb in a
// fresh temporary directory, a free port (never 5432, the one other suites
// share), listening on 127.0.0.1 only, its unix socket in that directory,
// trust authentication. The run can restart it and exhaust its connections
// without touching anyone else's database. Postgres refuses to run as root:
// as root its binaries run as the `postgres` OS user (`runuser`).
//
// The service connects as `agentos`, a role that is not a superuser, so it
// cannot take the superuser-reserved connection slots; the run's own
// statements (and the checks) connect as `postgres`.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Process from "./Process.js"

/** The role the service connects as (not a superuser). */
const SERVICE_ROLE = "agentos"
/** The role the exhaustion holds connections as (not a superuser). */
const HOLDER_ROLE = "outsider"
/** The private cluster's `max_connections` (3 of them reserved for superusers, Postgres's default). */
export const MAX_CONNECTIONS = 30
export const SUPERUSER_RESERVED = 3

export interface Cluster {
  readonly port: number
  readonly dir: string
  readonly version: string
  /** The service's database, as the service connects (role `agentos`). */
  readonly serviceUrl: string
  /** The same database as the superuser (for the run's own statements). */
  readonly adminUrl: string
  /** Runs one statement as the superuser over the unix socket; its rows, tab-separated. */
  readonly psql: (statement: string) => string
  /** Immediate stop (a crash: no checkpoint, every session cut), `downMillis` down, start. */
  readonly restart: (downMillis: number) => Promise<{ readonly stopMillis: number; readonly startMillis: number }>
  /** Immediate stop, the directory removed (unless `keep`: a failed run's, for a look); bounded; idempotent. */
  readonly destroy: (keep?: boolean) => void
}

/** The newest PostgreSQL's binaries: $AGENTOS_CHAOS_PG_BIN, or /usr/lib/postgresql/<version>/bin. */
const binaries = (): { readonly bin: string; readonly version: string } => {
  const explicit = process.env.AGENTOS_CHAOS_PG_BIN
  if (explicit !== undefined && explicit !== "") {
    if (!Fs.existsSync(Path.join(explicit, "initdb"))) {
      throw new Error(`AGENTOS_CHAOS_PG_BIN=${explicit} has no initdb`)
    }
    return { bin: explicit, version: Path.basename(Path.dirname(explicit)) }
  }
  const root = "/usr/lib/postgresql"
  const versions = Fs.existsSync(root)
    ? Fs.readdirSync(root).filter((v) => Fs.existsSync(Path.join(root, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a))
    : []
  if (versions.length === 0) {
    throw new Error(
      "the private Postgres cluster needs PostgreSQL's server binaries (initdb, pg_ctl): none in " +
        `${root}/*/bin; install the server package or set AGENTOS_CHAOS_PG_BIN`
    )
  }
  return { bin: Path.join(root, versions[0]!, "bin"), version: versions[0]! }
}

/** As root: the `postgres` OS user's uid and gid (Postgres refuses to run as root). */
const osUser = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" })
  const uid = id("-u")
  const gid = id("-g")
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "the private Postgres cluster runs as the `postgres` OS user when the run is root (Postgres refuses " +
        "root), and there is no such user: create it, or run the chaos run as an ordinary user"
    )
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

/**
 * Initialises and starts a cluster on `port` (a free one, not 5432) in a new
 * temporary directory; creates the `agentos` and `outsider` roles and the
 * database `agentos_chaos` owned by `agentos`. On a failure the directory is
 * removed before the error is thrown.
 */
export const start = (port: number): Cluster => {
  if (port === 5432) throw new Error("the private cluster never takes port 5432 (the shared server's)")
  const { bin, version } = binaries()
  const user = osUser()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-chaos-pg-"))
  const data = Path.join(dir, "data")
  const logFile = Path.join(dir, "postgres.log")
  if (user !== undefined) Fs.chownSync(dir, user.uid, user.gid)
  const run = (tool: string, args: ReadonlyArray<string>, timeoutMillis = 60_000) => {
    const command = user === undefined
      ? [Path.join(bin, tool), ...args]
      : ["runuser", "-u", "postgres", "--", Path.join(bin, tool), ...args]
    const result = spawnSync(command[0]!, command.slice(1), {
      encoding: "utf8",
      timeout: timeoutMillis,
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    if (result.status !== 0) {
      const log = Fs.existsSync(logFile) ? Fs.readFileSync(logFile, "utf8").slice(-1_500) : ""
      throw new Error(
        `${tool} ${args.join(" ")}: ${result.error?.message ?? `exit ${result.status}`}\n${result.stderr}\n${log}`
      )
    }
    return result.stdout
  }
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    `-c max_connections=${MAX_CONNECTIONS}`,
    `-c superuser_reserved_connections=${SUPERUSER_RESERVED}`
  ].join(" ")
  const pgCtl = (...args: Array<string>) => run("pg_ctl", ["-D", data, "-l", logFile, "-o", options, ...args])
  let destroyed = false
  const destroy = (keep = false) => {
    if (destroyed) return
    destroyed = true
    try {
      if (Fs.existsSync(Path.join(data, "postmaster.pid"))) {
        run("pg_ctl", ["-D", data, "-m", "immediate", "stop"], 30_000)
      }
    } catch {
      // the directory goes anyway; a postmaster left over would die with its data directory's lock
    }
    if (!keep) Fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
    pgCtl("-w", "-t", "60", "start")
    // As the superuser, through the cluster's socket (its reserved slots stay open when the pool is exhausted).
    const socketUrl = `postgresql:///postgres?host=${encodeURIComponent(dir)}&port=${port}&user=postgres`
    const psql = (statement: string) => Process.psql(socketUrl, statement)
    psql(`CREATE ROLE ${SERVICE_ROLE} LOGIN; CREATE ROLE ${HOLDER_ROLE} LOGIN;`)
    psql(`CREATE DATABASE agentos_chaos OWNER ${SERVICE_ROLE}`)
    return {
      port,
      dir,
      version,
      serviceUrl: `postgres://${SERVICE_ROLE}@127.0.0.1:${port}/agentos_chaos`,
      adminUrl: `postgres://postgres@127.0.0.1:${port}/agentos_chaos`,
      psql,
      restart: async (downMillis) => {
        const t0 = Date.now()
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], 60_000)
        const stopMillis = Date.now() - t0
        await Process.sleep(downMillis)
        const t1 = Date.now()
        pgCtl("-w", "-t", "120", "start")
        return { stopMillis, startMillis: Date.now() - t1 }
      },
      destroy
    }
  } catch (error) {
    destroy()
    throw error
  }
}

/** One connection held from outside: a psql session sleeping until released. */
interface Holder {
  readonly process: ChildProcess
  readonly connected: Promise<boolean>
  readonly refusal: () => string
}

const holder = (cluster: Cluster, role: string): Holder => {
  const child = spawn(
    "psql",
    [
      "-h",
      "127.0.0.1",
      "-p",
      String(cluster.port),
      "-U",
      role,
      "-d",
      "agentos_chaos",
      "-qAt",
      "-c",
      "SELECT 'held'",
      "-c",
      "SELECT pg_sleep(3600)"
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let out = ""
  let err = ""
  const connected = new Promise<boolean>((resolve) => {
    child.stdout!.on("data", (chunk) => {
      out += String(chunk)
      if (out.includes("held")) resolve(true)
    })
    child.stderr!.on("data", (chunk) => (err += String(chunk)))
    child.once("exit", () => resolve(false))
    child.once("error", () => resolve(false))
  })
  return { process: child, connected, refusal: () => err.trim() }
}

export interface Exhaustion {
  /** Connections held from outside. */
  readonly held: number
  /** The service's sessions cut so that it had none left. */
  readonly terminated: number
  /** What Postgres said to the connection it refused. */
  readonly refusal: string
  /** The service's sessions left when the hold began (0: it could open none). */
  readonly serviceSessions: number
  readonly release: () => Promise<void>
}

const count = (cluster: Cluster, role: string) =>
  Number(cluster.psql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${role}'`).trim())

/**
 * Takes every connection slot a non-superuser may open (`max_connections`
 * minus the superuser reserve) as `outsider`, cutting the service's own
 * sessions as it goes (as the superuser, through the reserve), until the
 * service holds none and Postgres refuses the next one. `release` closes them.
 */
export const exhaust = async (cluster: Cluster, maxRounds = 30): Promise<Exhaustion> => {
  const held: Array<Holder> = []
  let terminated = 0
  let refusal = ""
  const release = async () => {
    // A session sleeping in pg_sleep does not notice its client is gone: the server ends them.
    cluster.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${HOLDER_ROLE}'`)
    for (const h of held) h.process.kill("SIGKILL")
    await Promise.all(held.map((h) =>
      new Promise<void>((resolve) => {
        if (h.process.exitCode !== null || h.process.signalCode !== null) resolve()
        else h.process.once("exit", () => resolve())
      })
    ))
    for (let i = 0; i < 50 && count(cluster, HOLDER_ROLE) > 0; i++) await Process.sleep(200)
  }
  try {
    for (let round = 0; round < maxRounds; round++) {
      // Cut the service's sessions and take their slots and every free one at once, in parallel
      // (the service's pool reconnects on its next query: it races for the slots).
      const open = Number(
        cluster.psql(
          `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename <> 'postgres'`
        ).trim()
      )
      terminated += Number(
        cluster.psql(
          `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${SERVICE_ROLE}'`
        ).trim()
      )
      const free = MAX_CONNECTIONS - SUPERUSER_RESERVED - open
      const batch = Array.from({ length: Math.max(1, free + (open - held.length)) }, () => holder(cluster, HOLDER_ROLE))
      const connected = await Promise.all(batch.map((h) => h.connected))
      let refused = false
      batch.forEach((h, i) => {
        if (connected[i]) held.push(h)
        else {
          refusal = h.refusal()
          if (!/too many clients|remaining connection slots/i.test(refusal)) {
            throw new Error(`a held connection failed for another reason: ${refusal}`)
          }
          refused = true
        }
      })
      if (refused && count(cluster, SERVICE_ROLE) === 0) break
    }
    return {
      held: held.length,
      terminated,
      refusal,
      serviceSessions: count(cluster, SERVICE_ROLE),
      release
    }
  } catch (error) {
    await release()
    throw error
  }
}
