// pnpm chaos — the chaos run (Chaos.ts) on SQLite and on Postgres; prints the
// counts and writes its figures into bench/results/reliability.json.
import { Bench } from "@agentos/testkit"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as ReliabilityResults from "../ReliabilityResults.js"
import * as Chaos from "./Chaos.js"
import * as Cluster from "./Cluster.js"
import * as DatabaseEvents from "./DatabaseEvents.js"
import { freshDatabase, killAll } from "./Process.js"

const USAGE = `Usage: pnpm chaos [options]

  --kills <n>        SIGKILLs per backend (default 10)
  --seed <n>         the kill schedule's seed (default 1)
  --backend <name>   sqlite, postgres or both (default both)
  --pg <url>         run on a fresh database of this Postgres server instead, with no
                     database events (default: a private cluster, below)
  --restart-at <n>   the cycle in which the database is restarted (default kills/3, rounded up)
  --exhaust-at <n>   the cycle in which the connection pool is exhausted (default 2·kills/3, rounded up)
  --down <s>         seconds the restarted database stays down (default 3)
  --hold <s>         seconds every connection slot is held (default 10)
  --keep-cluster     a run with violations keeps the private cluster's directory, stopped
                     (otherwise it is removed at the end, on a failure and on SIGINT)
  --tasks <min,max>  tasks the load generator submits each cycle (default 5,15)
  --after <min,max>  seconds from the load's end to the kill (default 0,4)
  --agents <n>       the load generator's agents (default 2)
  --probe <s>        seconds between the probe's submissions (default 1.5)
  --finish <s>       bound on the end: every task terminal (default 180)
  --no-write         do not write bench/results/reliability.json
  --help`

const ARGS = {
  kills: { type: "string" },
  seed: { type: "string" },
  backend: { type: "string" },
  pg: { type: "string" },
  "restart-at": { type: "string" },
  "exhaust-at": { type: "string" },
  down: { type: "string" },
  hold: { type: "string" },
  "keep-cluster": { type: "boolean" },
  tasks: { type: "string" },
  after: { type: "string" },
  probe: { type: "string" },
  agents: { type: "string" },
  finish: { type: "string" },
  "no-write": { type: "boolean" },
  help: { type: "boolean" }
} as const

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** The full-length Postgres run's database events on its private cluster (cycles count from 1). */
export interface PrivateCluster {
  readonly restartAt: number
  readonly exhaustAt: number
  readonly downMillis: number
  readonly holdMillis: number
  /** A run with violations keeps the cluster's directory (stopped) for a look; otherwise it is always removed. */
  readonly keep: boolean
}

/** The private cluster, while a run uses it: removed on SIGINT or SIGTERM too. */
let current: Cluster.Cluster | undefined

/**
 * One backend's run in a temporary directory. Postgres: a fresh database on
 * the server of `pg` (dropped after), or with `{ private }` a private cluster
 * on a free port with its database events (stopped and removed after).
 */
export const runBackend = async (
  backend: "sqlite" | "postgres",
  options: Omit<Chaos.Options, "backend" | "databaseUrl" | "port" | "workDir" | "databaseEvents">,
  pg: string | { readonly private: PrivateCluster }
): Promise<Chaos.Report> => {
  let database: { readonly url: string; readonly drop: (violations: boolean) => void } | undefined
  let databaseEvents: Array<Chaos.DatabaseEvent> = []
  if (backend === "postgres" && typeof pg === "string") database = freshDatabase(pg)
  else if (backend === "postgres" && typeof pg !== "string") {
    const port = await freePort()
    const cluster = Cluster.start(port)
    current = cluster
    options.log?.(`private Postgres ${cluster.version} cluster on 127.0.0.1:${port} in ${cluster.dir}`)
    database = {
      url: cluster.serviceUrl,
      drop: (violations) => {
        const keep = violations && pg.private.keep
        cluster.destroy(keep)
        if (keep) options.log?.(`private cluster stopped, kept: ${cluster.dir}`)
        current = undefined
      }
    }
    databaseEvents = [
      {
        cycle: pg.private.restartAt,
        name: "database restart",
        run: DatabaseEvents.restart(cluster, pg.private.downMillis)
      },
      {
        cycle: pg.private.exhaustAt,
        name: "connection pool exhausted",
        run: DatabaseEvents.exhaust(cluster, pg.private.holdMillis)
      }
    ]
  }
  const workDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `agentos-chaos-${backend}-`))
  // A run with violations, or one that failed, keeps its logs and witnesses for a look.
  let keep = true
  let report: Chaos.Report | undefined
  try {
    report = await Chaos.run({
      ...options,
      backend,
      port: await freePort(),
      workDir,
      databaseEvents,
      ...(database === undefined ? {} : { databaseUrl: database.url })
    })
    keep = report.violations.length > 0
    return report
  } finally {
    if (keep) options.log?.(`kept for inspection: ${workDir}`)
    database?.drop((report?.violations.length ?? 0) > 0)
    if (!keep) Fs.rmSync(workDir, { recursive: true, force: true })
  }
}

/** The report's figures (bench/results format). */
export const figures = (report: Chaos.Report): Array<Bench.Figure> => {
  const config = {
    backend: report.backend,
    kills: report.kills,
    seed: report.seed,
    ...(report.events.length === 0 ? {} : {
      databaseEvents: report.events.map((e) => `${e.name} in cycle ${e.cycle}`).join(", ")
    })
  }
  const figure = (name: string, value: number, unit: string, better: "higher" | "lower", note?: string) => ({
    name: `chaos (${report.backend}): ${name}`,
    value,
    unit,
    better,
    config,
    ...(note === undefined ? {} : { note })
  })
  const c = report.counts
  return [
    figure(
      "violations (lost, duplicated or unreadable work)",
      report.violations.length,
      "count",
      "lower",
      report.violations.slice(0, 5).join("; ") || undefined
    ),
    figure("tasks accepted", c["tasks accepted (202, all clients)"] ?? 0, "count", "higher"),
    figure("tasks stored, all terminal", c["tasks stored"] ?? 0, "count", "higher"),
    figure("tasks completed", c["tasks completed"] ?? 0, "count", "higher"),
    figure("tasks failed", c["tasks failed"] ?? 0, "count", "lower"),
    figure(
      "tasks lost by a killed runner and run again",
      c["tasks lost by a killed runner at least once"] ?? 0,
      "count",
      "lower"
    ),
    figure("workflows completed", c["workflows completed"] ?? 0, "count", "higher"),
    figure("workflows failed (cause and dead letter stored)", c["workflows failed"] ?? 0, "count", "lower"),
    figure("step results committed", c["step results committed"] ?? 0, "count", "higher"),
    figure(
      "step attempts run twice (same idempotency key)",
      c["step attempts run more than once (same idempotency key)"] ?? 0,
      "count",
      "lower",
      "a step in flight at a kill runs again; its result is committed once"
    ),
    figure("model calls billed", c["model calls billed"] ?? 0, "count", "higher"),
    figure("spend billed by the provider", c["spend billed by the provider (µ$)"] ?? 0, "µ$", "lower"),
    figure(
      "spend recorded for billed calls (team scope)",
      c["spend recorded for billed calls, team scope (µ$)"] ?? 0,
      "µ$",
      "lower",
      "equal to billed for settled calls; between billed and reserved for interrupted ones"
    ),
    ...report.events.flatMap((e) => {
      const count = (match: (status: string) => boolean) =>
        Object.entries(e.submissions).filter(([status]) => match(status)).reduce((n, [, v]) => n + v, 0)
      const detail = Object.entries(e.detail).map(([k, v]) => `${k} ${v}`).join(", ")
      return [
        figure(`${e.name}: database unreachable`, e.outageMillis, "ms", "lower", detail),
        figure(
          `${e.name}: /readyz 200 and a 202 after the database's return`,
          e.recoveredMillis ?? -1,
          "ms",
          "lower",
          e.recoveredMillis === undefined ? "not within the bound" : undefined
        ),
        figure(
          `${e.name}: submissions meanwhile refused (503 or 429)`,
          count((s) => /^(503|429)/.test(s)),
          "count",
          "higher"
        ),
        figure(`${e.name}: submissions meanwhile accepted`, count((s) => s.startsWith("202")), "count", "higher"),
        figure(
          `${e.name}: submissions meanwhile not answered in 5 s`,
          count((s) => s.startsWith("no answer")),
          "count",
          "lower"
        ),
        figure(
          `${e.name}: submissions meanwhile answered another 5xx`,
          count((s) => s.startsWith("5") && !s.startsWith("503")),
          "count",
          "lower",
          Object.entries(e.submissions).map(([k, v]) => `${k} ×${v}`).join(", ")
        )
      ]
    }),
    figure("restart to /healthz, median", Bench.median(report.restartMillis), "ms", "lower"),
    figure("every task terminal after the last start", report.finishMillis, "ms", "lower"),
    figure("run length", report.seconds, "s", "lower")
  ]
}

/** Replaces the chaos figures of bench/results/reliability.json (other figures of the file are kept). */
export const writeFigures = (command: string, reports: ReadonlyArray<Chaos.Report>) =>
  ReliabilityResults.write(command, reports.map((r) => `chaos (${r.backend}): `), reports.flatMap(figures))

const main = async () => {
  const { values } = parseArgs({ options: ARGS })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value))
  const pair = (value: string | undefined, fallback: string, scale = 1) => {
    const [min, max] = (value ?? fallback).split(",").map((s) => Number(s) * scale)
    return [min!, max ?? min!] as const
  }
  const backends = values.backend === undefined || values.backend === "both"
    ? ["sqlite", "postgres"] as const
    : [values.backend as "sqlite" | "postgres"]
  const options = {
    kills: number(values.kills, 10),
    seed: number(values.seed, 1),
    loadTasks: pair(values.tasks, "5,15"),
    killAfterMillis: pair(values.after, "0,4", 1000),
    loadAgents: number(values.agents, 2),
    probeEveryMillis: number(values.probe, 1.5) * 1000,
    finishMillis: number(values.finish, 180) * 1000,
    log: (line: string) => console.log(`[chaos] ${line}`)
  }
  const pg = values.pg !== undefined ? values.pg : {
    private: {
      restartAt: number(values["restart-at"], Math.ceil(options.kills / 3)),
      exhaustAt: number(values["exhaust-at"], Math.ceil((2 * options.kills) / 3)),
      downMillis: number(values.down, 3) * 1000,
      holdMillis: number(values.hold, 10) * 1000,
      keep: values["keep-cluster"] === true
    }
  }
  // Interrupted: the service and the private cluster go too (each bounded).
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`[chaos] ${signal}: stopping the service and removing the private cluster`)
      killAll()
      current?.destroy()
      process.exit(130)
    })
  }
  const reports: Array<Chaos.Report> = []
  for (const backend of backends) {
    const events = backend === "postgres" && typeof pg !== "string"
      ? `, private cluster: restart in cycle ${pg.private.restartAt}, exhaustion in cycle ${pg.private.exhaustAt}`
      : ""
    console.log(`[chaos] ${backend}: ${options.kills} kills, seed ${options.seed}${events}`)
    const report = await runBackend(backend, options, pg)
    console.log(Chaos.format(report))
    reports.push(report)
  }
  if (!values["no-write"]) {
    const command = `pnpm chaos ${process.argv.slice(2).join(" ")}`.trim()
    console.log(`[chaos] figures: ${writeFigures(command, reports)}`)
  }
  return reports.some((r) => r.violations.length > 0) ? 1 : 0
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === Path.resolve(import.meta.filename)) {
  main().then((code) => process.exit(code), (error) => {
    console.error(`[chaos] ${error instanceof Error ? error.stack : String(error)}`)
    process.exit(2)
  })
}
