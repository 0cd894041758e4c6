// The chaos run: the demo service as a child process, work sent to it by its
// load generator (`src/load`, run in this process) and by a probe that keeps the id of every task
// it saw accepted; the service is SIGKILLed at seeded random moments K times
// and started again each time on the same database. Then the work is let to
// finish, the service is stopped, and Check.ts checks what the database and
// the witnesses say. Bounded in time; traffic only on 127.0.0.1.
import { FetchHttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Either, type Layer, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Load from "../load/Load.js"
import { seeded } from "../Seeded.js"
import * as Check from "./Check.js"
import * as DatabaseEvents from "./DatabaseEvents.js"
import { type Child, kill, sleep, startService, stop } from "./Process.js"

export interface Options {
  readonly backend: "sqlite" | "postgres"
  /** Postgres: the database the service uses (fresh, dropped by the caller). */
  readonly databaseUrl?: string
  readonly kills: number
  readonly seed: number
  readonly port: number
  /** Data directory, witnesses, logs. */
  readonly workDir: string
  /** Each cycle, the load generator submits this many tasks (uniform in [min, max])… */
  readonly loadTasks: readonly [number, number]
  /** …and the kill lands this long after it reported (uniform in [min, max] ms). */
  readonly killAfterMillis: readonly [number, number]
  /** Concurrent agents of the load generator. */
  readonly loadAgents: number
  /** The probe submits one workflow per this many ms. */
  readonly probeEveryMillis: number
  /** The bound on the end: all tasks terminal within this, after the last start. */
  readonly finishMillis: number
  /**
   * Postgres on a private cluster (the full-length run): database events,
   * each started 1 s into its cycle's load (cycles count from 1).
   */
  readonly databaseEvents?: ReadonlyArray<DatabaseEvent>
  readonly log?: (line: string) => void
}

/** A database event of the run (DatabaseEvents.ts): it returns once the database is reachable again. */
export interface DatabaseEvent {
  readonly cycle: number
  readonly name: DatabaseEvents.EventName
  readonly run: () => Promise<{ readonly outageMillis: number; readonly detail: Record<string, number | string> }>
}

export interface Report {
  readonly backend: "sqlite" | "postgres"
  readonly seed: number
  readonly kills: number
  /** Milliseconds after the service answered /healthz at which each kill landed. */
  readonly killedAfterMillis: ReadonlyArray<number>
  /** Milliseconds from a kill to the next start answering /healthz. */
  readonly restartMillis: ReadonlyArray<number>
  readonly seconds: number
  /** Milliseconds from the last start until every task was terminal. */
  readonly finishMillis: number
  readonly drainedOnStop: boolean
  /** The load generator's runs: `cut` at the 60 s bound, `failed` with its error (its counts lost either way). */
  readonly load: {
    readonly runs: number
    readonly cut: number
    readonly failed: number
    readonly accepted: number
    readonly sent: number
  }
  readonly probe: { readonly sent: number; readonly accepted: number; readonly unanswered: number }
  readonly counts: Record<string, number>
  /** The database events, with what the service answered during each. */
  readonly events: ReadonlyArray<DatabaseEvents.EventReport>
  readonly violations: ReadonlyArray<string>
}

/** The token budget the chaos service runs with (the checks read the budget with it). */
export const TOKEN_BUDGET = 1_000_000_000

/** The service's settings for a chaos run: short leases, model calls slow enough that a kill lands mid-step. */
export const serviceEnv = (options: {
  readonly dataDir: string
  readonly witnessDir: string
  readonly databaseUrl?: string | undefined
  readonly failureRate?: number
  readonly latency?: string
  readonly taskLease?: string
}): Record<string, string> => ({
  AGENTOS_DATA_DIR: options.dataDir,
  AGENTOS_WITNESS_DIR: options.witnessDir,
  AGENTOS_TEAM: "false",
  AGENTOS_SIM_LATENCY: options.latency ?? "100 millis",
  AGENTOS_SIM_FAILURE_RATE: String(options.failureRate ?? 0.05),
  AGENTOS_TASK_LEASE: options.taskLease ?? "2 seconds",
  AGENTOS_TASK_POLL_INTERVAL: "200 millis",
  AGENTOS_LEASE_TTL: "2 seconds",
  AGENTOS_DRAIN_TIMEOUT: "2 seconds",
  AGENTOS_SPEND_LIMIT_MICROS: "1000000000",
  AGENTOS_TOKEN_BUDGET: String(TOKEN_BUDGET),
  AGENTOS_SUMMARY_INTERVAL: "1 hour",
  AGENTOS_LOG_LEVEL: "WARN",
  ...(options.databaseUrl === undefined ? {} : { DATABASE_URL: options.databaseUrl })
})

/** The service's database, for the checks (after it stopped). */
export const sqlLayer = (where: {
  readonly dataDir: string
  readonly databaseUrl?: string | undefined
}): Layer.Layer<SqlClient.SqlClient, unknown> =>
  where.databaseUrl === undefined
    ? SqliteClient.layer({ filename: Path.join(where.dataDir, "agentos.db") })
    : PgClient.layer({ url: Redacted.make(where.databaseUrl), maxConnections: 2 })

/**
 * Submits a research workflow every `everyMillis` (2 s bound each), keeping
 * the id of every 202.
 */
const probe = (
  base: string,
  everyMillis: number,
  stats: { sent: number; accepted: Array<string>; unanswered: number }
) => {
  let running = true
  const done = (async () => {
    let n = 0
    while (running) {
      stats.sent++
      try {
        const response = await fetch(`${base}/workflows`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ topic: `chaos probe ${n++}` }),
          signal: AbortSignal.timeout(2_000)
        })
        const body = await response.json() as { id?: string }
        if (response.status === 202 && typeof body.id === "string") stats.accepted.push(body.id)
      } catch {
        stats.unanswered++
      }
      await sleep(everyMillis)
    }
  })()
  return async () => {
    running = false
    await done
  }
}

/** One run; the caller owns `workDir` and the Postgres database. */
export const run = async (options: Options): Promise<Report> => {
  const log = options.log ?? (() => {})
  const random = seeded(options.seed)
  const between = (min: number, max: number) => Math.round(min + random() * (max - min))
  const witnessDir = Path.join(options.workDir, "witness")
  const logs = Path.join(options.workDir, "logs")
  Fs.mkdirSync(logs, { recursive: true })
  const where = { dataDir: Path.join(options.workDir, "data"), databaseUrl: options.databaseUrl }
  const env = serviceEnv({ ...where, witnessDir })
  const base = `http://127.0.0.1:${options.port}`
  const started = Date.now()
  const killedAfter: Array<number> = []
  const restart: Array<number> = []
  const load = { runs: 0, cut: 0, failed: 0, accepted: 0, sent: 0 }
  const probed = { sent: 0, accepted: [] as Array<string>, unanswered: 0 }
  const events: Array<DatabaseEvents.EventReport> = []
  let service: Child | undefined
  let stopProbe: (() => Promise<void>) | undefined
  let starts = 0
  const start = () => startService({ port: options.port, env, logFile: Path.join(logs, `service-${starts++}.log`) })
  try {
    service = await start()
    stopProbe = probe(base, options.probeEveryMillis, probed)
    for (let k = 0; k < options.kills; k++) {
      // The load generator submits its tasks and reports; the kill lands a seeded random time
      // after, with its work queued and running (and the probe's submissions arriving). A load
      // that has not ended within 60 s is cut (its count is lost; the probe's ids are not).
      const upSince = Date.now()
      const count = between(options.loadTasks[0], options.loadTasks[1])
      const afterMillis = between(options.killAfterMillis[0], options.killAfterMillis[1])
      load.runs++
      const loading = Effect.runPromise(
        Load.run({ url: base, agents: options.loadAgents, count, drainMillis: 0 }).pipe(
          Effect.timeout("60 seconds"),
          Effect.provide(FetchHttpClient.layer),
          Effect.either
        )
      )
      // This cycle's database events, while the load runs.
      for (const event of (options.databaseEvents ?? []).filter((e) => e.cycle === k + 1)) {
        await sleep(1_000)
        log(`${event.name}, cycle ${k + 1}, while the load runs`)
        const report = await DatabaseEvents.observe({
          name: event.name,
          cycle: event.cycle,
          base,
          service: service!,
          event: event.run,
          log
        })
        events.push(report)
        if (report.serviceExited) {
          await kill(service!)
          service = await start()
        }
      }
      const loaded = await loading
      let ended = "done"
      if (Either.isRight(loaded)) {
        load.accepted += loaded.right.requests.accepted
        load.sent += loaded.right.requests.sent
      } else if (loaded.left._tag === "TimeoutException") {
        load.cut++
        ended = "cut at 60 s"
      } else {
        load.failed++
        ended = `failed: ${loaded.left.message.slice(0, 200)}`
      }
      await sleep(afterMillis)
      const up = Date.now() - upSince
      killedAfter.push(up)
      log(
        `kill ${k + 1}/${options.kills}: up ${up} ms, ${afterMillis} ms after the load (load ${ended})`
      )
      const killedAt = Date.now()
      await kill(service)
      service = undefined
      service = await start()
      restart.push(Date.now() - killedAt)
    }
    await stopProbe()
    stopProbe = undefined
    // Let it finish: every task terminal (polled in the database, as the checks read it).
    const lastStart = Date.now()
    const finished = await Effect.runPromise(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        while (Date.now() - lastStart < options.finishMillis) {
          const open = yield* sql<{ n: unknown }>`
            SELECT count(*) AS n FROM agentos_supervisor_tasks
            WHERE state NOT IN ('completed', 'failed', 'cancelled', 'dead-lettered')`
          if (Number(open[0]!.n) === 0) return true
          yield* Effect.sleep("500 millis")
        }
        return false
      }).pipe(Effect.provide(sqlLayer(where)), Effect.orElseSucceed(() => false))
    )
    const finishMillis = Date.now() - lastStart
    log(finished ? `every task terminal ${finishMillis} ms after the last start` : "tasks still open at the bound")
    const drainedOnStop = await stop(service, 20_000)
    service = undefined
    const eventAccepted = events.flatMap((e) => e.accepted)
    const findings = await Effect.runPromise(
      Check.check({
        acceptedIds: [...probed.accepted, ...eventAccepted],
        acceptedCount: probed.accepted.length + eventAccepted.length + load.accepted,
        witnessDir,
        tokenBudget: TOKEN_BUDGET
      }).pipe(
        Effect.provide(Check.layer(TOKEN_BUDGET)),
        Effect.provide(sqlLayer(where)),
        Effect.scoped
      )
    )
    const violations = [
      ...(finished ? [] : [`not every task was terminal ${options.finishMillis} ms after the last start`]),
      ...events.flatMap((e) => e.violations),
      ...findings.violations
    ]
    return {
      backend: options.backend,
      seed: options.seed,
      kills: options.kills,
      killedAfterMillis: killedAfter,
      restartMillis: restart,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      finishMillis,
      drainedOnStop,
      load,
      probe: { sent: probed.sent, accepted: probed.accepted.length, unanswered: probed.unanswered },
      counts: findings.counts,
      events,
      violations
    }
  } finally {
    if (stopProbe !== undefined) await stopProbe()
    if (service !== undefined) await kill(service)
  }
}

/** The report as the lines the script prints. */
export const format = (report: Report): string =>
  [
    `chaos ${report.backend}: ${report.kills} SIGKILLs (seed ${report.seed}) in ${report.seconds} s; ` +
    `every task terminal ${report.finishMillis} ms after the last start; stop drained: ${report.drainedOnStop}`,
    `  kills after ms: ${report.killedAfterMillis.join(" ")}; restarts took ms: ${report.restartMillis.join(" ")}`,
    `  load generator: ${report.load.runs} runs (${report.load.cut} cut at 60 s, ${report.load.failed} failed), ` +
    `${report.load.sent} sent, ${report.load.accepted} accepted`,
    `  probe: ${report.probe.sent} sent, ${report.probe.accepted} accepted, ${report.probe.unanswered} unanswered`,
    ...report.events.map((e) => DatabaseEvents.format(e).replace(/^/gm, "  ")),
    ...Object.entries(report.counts).map(([key, value]) => `  ${key}: ${value}`),
    report.violations.length === 0
      ? "  violations: none"
      : `  violations (${report.violations.length}):\n${report.violations.map((v) => `    - ${v}`).join("\n")}`
  ].join("\n")
