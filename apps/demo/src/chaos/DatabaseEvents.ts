// The full-length Postgres chaos run's two database events, each while the
// load generator runs, on the private cluster (Cluster.ts):
//
// - restart: an immediate stop (a crash: every session cut, no checkpoint),
//   a few seconds down, a start (crash recovery);
// - exhaustion: every connection slot a non-superuser may open taken from
//   outside and the service's own sessions cut, so that its pool (at most 10
//   connections, no connect timeout: `Stack.sql`) can open none; held for a
//   few seconds, then released.
//
// What the service must do, from its configuration: its pool's connection
// attempts are refused by the server at once (the pool has no connect
// timeout to wait out, and a refused or cut connection is dropped from it),
// so while the database cannot be reached a submission is refused (503 or
// 429) or waits, never accepted without being stored; `/healthz` (no
// database) answers 200 throughout; the process does not exit; once the
// database is back the pool opens new connections, `/readyz` answers 200
// and a submission is accepted again within RECOVERY_BOUND_MILLIS. Each
// event prints what the service answered while it lasted. Everything the
// end-of-run checks verify must still hold afterwards (the ids accepted here
// are checked with the probe's).
import * as Cluster from "./Cluster.js"
import { type Child, sleep } from "./Process.js"

/** The bound on the service's recovery after an event. */
export const RECOVERY_BOUND_MILLIS = 90_000

export type EventName = "database restart" | "connection pool exhausted"

export interface EventReport {
  readonly name: EventName
  /** The chaos cycle it ran in (1-based). */
  readonly cycle: number
  /** How it went: restart stop/down/start times; exhaustion's held connections, cut sessions, refusal. */
  readonly detail: Record<string, number | string>
  /** Milliseconds the database could not be reached (stop to started; held to released). */
  readonly outageMillis: number
  /** What submissions (POST /workflows) got while it lasted, by status ("no answer in 5 s", "connection error"). */
  readonly submissions: Record<string, number>
  /** The first error message of each refusal kind. */
  readonly messages: Record<string, string>
  /** What `/healthz` got while it lasted. */
  readonly healthz: Record<string, number>
  /** From the database's return to `/readyz` 200 and a 202; undefined when not within the bound. */
  readonly recoveredMillis: number | undefined
  readonly serviceExited: boolean
  /** Ids of submissions accepted during the event and the recovery (checked at the end). */
  readonly accepted: ReadonlyArray<string>
  readonly violations: ReadonlyArray<string>
}

const bump = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1)

const submit = async (base: string, topic: string) => {
  try {
    const response = await fetch(`${base}/workflows`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic }),
      signal: AbortSignal.timeout(5_000)
    })
    const body = await response.json().catch(() => ({})) as { id?: string; _tag?: string; message?: string }
    return {
      status: String(response.status),
      tag: body._tag,
      message: body.message,
      id: response.status === 202 ? body.id : undefined
    }
  } catch (error) {
    const timeout = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")
    return {
      status: timeout ? "no answer in 5 s" : "connection error",
      tag: undefined,
      message: undefined,
      id: undefined
    }
  }
}

const status = (base: string, path: string) =>
  fetch(`${base}${path}`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => String(r.status),
    () => "no answer in 2 s"
  )

/**
 * Runs `event` (which returns once the database is reachable again) while
 * observing the service, then waits for its recovery; `service` is the
 * service's current process.
 */
export const observe = async (options: {
  readonly name: EventName
  readonly cycle: number
  readonly base: string
  readonly service: Child
  readonly event: () => Promise<{ readonly outageMillis: number; readonly detail: Record<string, number | string> }>
  readonly log: (line: string) => void
}): Promise<EventReport> => {
  const { base, name } = options
  const submissions: Record<string, number> = {}
  const healthz: Record<string, number> = {}
  const messages: Record<string, string> = {}
  const accepted: Array<string> = []
  const violations: Array<string> = []
  let exited = false
  void options.service.exited.then(() => (exited = true))
  let observing = true
  let n = 0
  const observer = (async () => {
    while (observing) {
      const [answer, health] = await Promise.all([
        submit(base, `chaos ${name} ${n++}`),
        status(base, "/healthz")
      ])
      const key = answer.tag === undefined ? answer.status : `${answer.status} ${answer.tag}`
      bump(submissions, key)
      if (answer.message !== undefined && answer.id === undefined) messages[key] ??= answer.message.slice(0, 200)
      if (answer.id !== undefined) accepted.push(answer.id)
      bump(healthz, health)
      await sleep(250)
    }
  })()
  let outcome: Awaited<ReturnType<typeof options.event>>
  try {
    outcome = await options.event()
  } finally {
    observing = false
    await observer
  }
  // Recovery: /readyz 200, then a submission accepted.
  const back = Date.now()
  let recoveredMillis: number | undefined
  while (!exited && Date.now() - back < RECOVERY_BOUND_MILLIS) {
    if ((await status(base, "/readyz")) === "200") {
      const answer = await submit(base, `chaos ${name} recovery`)
      if (answer.id !== undefined) {
        accepted.push(answer.id)
        recoveredMillis = Date.now() - back
        break
      }
    }
    await sleep(250)
  }
  if (exited) violations.push(`${name}: the service exited`)
  else if (recoveredMillis === undefined) {
    violations.push(`${name}: no /readyz 200 and 202 within ${RECOVERY_BOUND_MILLIS} ms of the database's return`)
  }
  for (const key of Object.keys(submissions)) {
    if (key.startsWith("5") && !key.startsWith("503")) {
      violations.push(`${name}: ${submissions[key]} submissions answered ${key} (expected 202, 429, 503 or a wait)`)
    }
  }
  for (const key of Object.keys(healthz)) {
    if (key !== "200" && key !== "no answer in 2 s") violations.push(`${name}: /healthz answered ${key}`)
  }
  const report: EventReport = {
    name,
    cycle: options.cycle,
    detail: outcome.detail,
    outageMillis: outcome.outageMillis,
    submissions,
    messages,
    healthz,
    recoveredMillis,
    serviceExited: exited,
    accepted,
    violations
  }
  options.log(format(report))
  return report
}

/** The restart: immediate stop, `downMillis` down, start. */
export const restart = (cluster: Cluster.Cluster, downMillis: number) => async () => {
  const t0 = Date.now()
  const { startMillis, stopMillis } = await cluster.restart(downMillis)
  return { outageMillis: Date.now() - t0, detail: { stopMillis, downMillis, startMillis, mode: "immediate" } }
}

/** The exhaustion: every non-superuser slot held for `holdMillis`, the service's sessions cut. */
export const exhaust = (cluster: Cluster.Cluster, holdMillis: number) => async () => {
  const t0 = Date.now()
  const held = await Cluster.exhaust(cluster)
  const takenMillis = Date.now() - t0
  try {
    await sleep(holdMillis)
  } finally {
    await held.release()
  }
  return {
    outageMillis: Date.now() - t0,
    detail: {
      maxConnections: Cluster.MAX_CONNECTIONS,
      superuserReserved: Cluster.SUPERUSER_RESERVED,
      held: held.held,
      serviceSessionsCut: held.terminated,
      serviceSessionsLeft: held.serviceSessions,
      takenMillis,
      holdMillis,
      refusal: held.refusal.replace(/^.*FATAL:\s*/s, "")
    }
  }
}

/** The event as the lines the run prints. */
export const format = (r: EventReport): string =>
  [
    `${r.name} (cycle ${r.cycle}): database unreachable ${r.outageMillis} ms; ` +
    Object.entries(r.detail).map(([k, v]) => `${k} ${v}`).join(", "),
    `  submissions meanwhile: ${Object.entries(r.submissions).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}`,
    ...Object.entries(r.messages).map(([k, v]) => `    ${k}: ${v}`),
    `  /healthz meanwhile: ${Object.entries(r.healthz).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}`,
    `  service exited: ${r.serviceExited}; /readyz 200 and a 202 ` +
    (r.recoveredMillis === undefined ? "not within the bound" : `${r.recoveredMillis} ms after the database's return`),
    r.violations.length === 0 ? "  as expected" : r.violations.map((v) => `  VIOLATION ${v}`).join("\n")
  ].join("\n")
