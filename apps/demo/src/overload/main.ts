// pnpm overload — the service's capacity, then ten times that offered for a
// minute (see Overload.ts). The service runs as its own process
// (`serve.ts`: `pnpm demo`'s configuration from the environment, its defaults
// unless given, the built-in team off, a fresh SQLite file, or Postgres with
// --database-url), on 127.0.0.1; the heap is the one it reports each second.
// Prints the figures and writes them as JSON.
import type { Bench } from "@agentos/testkit"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as ReliabilityResults from "../ReliabilityResults.js"
import * as Overload from "./Overload.js"

const USAGE = `Usage: pnpm overload [options]

  --capacity <s>       seconds of the capacity phase (default 20; the first fifth is warm-up)
  --factor <n>         the offered rate as a multiple of the capacity (default 10)
  --duration <s>       seconds of the offer (default 60)
  --drain <s>          seconds at most to wait for every accepted task to end (default 600; it gives up
                       sooner after 60 s in which no task ended)
  --database-url <url> run the service on this Postgres instead of a fresh SQLite file
  --out <file>         the JSON report (default src/overload/results/overload-<backend>.json)
  --no-write           do not write the figures into bench/results/reliability.json
`

const appDir = Path.resolve(import.meta.dirname, "../..")

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** The report's figures (bench/results format), named `overload (<backend>): …`. */
const figures = (backend: string, report: Overload.Report): Array<Bench.Figure> => {
  const config = {
    backend,
    factor: round(report.offer.ratePerSecond / report.capacity.workflowsPerSecond),
    offerSeconds: report.offer.seconds
  }
  const figure = (
    name: string,
    value: number,
    unit: string,
    better: "higher" | "lower",
    extra: Partial<Pick<Bench.Figure, "target" | "note">> = {}
  ): Bench.Figure => ({ name: `overload (${backend}): ${name}`, value, unit, better, config, ...extra })
  const { capacity, drain, healthz, offer, serviceLoop } = report
  const status5xx = Object.entries(offer.otherStatus).filter(([status]) => status.startsWith("5"))
  return [
    figure("capacity, research workflows completed per second", capacity.workflowsPerSecond, "workflows/s", "higher"),
    figure("offered rate", offer.ratePerSecond, "requests/s", "higher"),
    figure("submissions sent", offer.sent, "count", "higher"),
    figure("submissions accepted (202)", offer.accepted, "count", "higher"),
    figure("submissions refused (429)", offer.rejected429, "count", "lower"),
    figure("submissions answered 5xx", status5xx.reduce((n, [, count]) => n + count, 0), "count", "lower"),
    figure("submissions with no answer within 30 s", offer.unanswered, "count", "lower"),
    figure("submission latency p99", offer.submitLatencyMillis.p99, "ms", "lower"),
    figure("/healthz latency p50", healthz.latencyMillis.p50, "ms", "lower"),
    figure("/healthz latency p99", healthz.latencyMillis.p99, "ms", "lower", {
      target: {
        source: "issue #19",
        description: "/healthz p99 under 100 ms while ten times the capacity is offered",
        max: 100,
        met: healthz.latencyMillis.p99 < 100
      },
      note: `${healthz.samples} samples, ${healthz.failed} failed, max ${healthz.latencyMillis.max} ms`
    }),
    figure("heap used, max", report.heap.maxHeapUsedMB, "MB", "lower"),
    figure("event loop, largest delay per second, p99", serviceLoop.maxDelayPerSecondMillis.p99, "ms", "lower"),
    figure("service CPU per second, p50", serviceLoop.cpuMillisPerSecond.p50, "ms", "lower"),
    figure("service waiting for a CPU per second, p50", serviceLoop.runQueueMillisPerSecond.p50, "ms", "lower"),
    figure("service waiting for a CPU per second, p99", serviceLoop.runQueueMillisPerSecond.p99, "ms", "lower"),
    figure(
      "accepted tasks completed after the drain",
      drain.statuses["completed"] ?? 0,
      "count",
      "higher",
      { note: `of ${offer.accepted} accepted: ${JSON.stringify(drain.statuses)}` }
    )
  ]
}

const round = (n: number) => Math.round(n * 100) / 100

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      capacity: { type: "string", default: "20" },
      factor: { type: "string", default: "10" },
      duration: { type: "string", default: "60" },
      drain: { type: "string", default: "600" },
      "database-url": { type: "string" },
      out: { type: "string" },
      "no-write": { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    }
  })
  if (values.help) return yield* Console.log(USAGE)
  const number = (name: string, text: string) => {
    const n = Number(text)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${text}\n\n${USAGE}`)
    return n
  }
  const capacitySeconds = number("capacity", values.capacity)
  const factor = number("factor", values.factor)
  const offerSeconds = number("duration", values.duration)
  const drainSeconds = number("drain", values.drain)
  const databaseUrl = values["database-url"]
  const backend = databaseUrl === undefined ? "sqlite" : "postgres"
  const out = Path.resolve(values.out ?? Path.join(appDir, "src/overload/results", `overload-${backend}.json`))

  const dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-overload-"))
  const port = yield* Effect.promise(freePort)
  const base = `http://127.0.0.1:${port}`
  const serviceLog = Path.join(dataDir, "service.log")
  const log = Fs.openSync(serviceLog, "a")
  let heap: Effect.Effect.Success<Overload.Options["heap"]> = { heapUsed: 0, rss: 0 }
  const child = spawn(process.execPath, ["--conditions=@agentos/source", "--import", "tsx", "src/overload/serve.ts"], {
    cwd: appDir,
    stdio: ["ignore", "pipe", log],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      AGENTOS_DATA_DIR: dataDir,
      AGENTOS_TEAM: "false",
      AGENTOS_LOG_LEVEL: "Warn",
      ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl })
    }
  })
  let buffered = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split("\n")
    buffered = lines.pop()!
    for (const line of lines) {
      if (line.startsWith("HEAP ")) heap = JSON.parse(line.slice(5))
      else Fs.appendFileSync(serviceLog, line + "\n")
    }
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  yield* Effect.addFinalizer(() =>
    Effect.promise(async () => {
      child.kill("SIGTERM")
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(killer)
      Fs.closeSync(log)
    })
  )

  // Until the service answers (migrations first).
  const deadline = Date.now() + 120_000
  while (true) {
    const ok = yield* Effect.promise(() => fetch(`${base}/readyz`).then((r) => r.status === 200, () => false))
    if (ok) break
    if (Date.now() > deadline || child.exitCode !== null) {
      return yield* Effect.dieMessage(`the service did not start; its log: ${serviceLog}`)
    }
    yield* Effect.sleep("200 millis")
  }

  const load = () => Os.loadavg().map((n) => Math.round(n * 100) / 100)
  const loadBefore = load()
  const startedAt = new Date().toISOString()
  const report = yield* Overload.run({
    base,
    capacitySeconds,
    factor,
    offerSeconds,
    drainSeconds,
    stallSeconds: 60,
    heap: Effect.sync(() => heap),
    log: (line) => console.log(line)
  })
  const result = {
    command: `pnpm overload ${process.argv.slice(2).join(" ")}`.trim(),
    startedAt,
    backend,
    machine: {
      cpus: Os.cpus().length,
      node: process.version,
      loadAverageBefore: loadBefore,
      loadAverageAfter: load()
    },
    configuration: "the service's defaults (AGENTOS_* unset) but AGENTOS_TEAM=false; a fresh database",
    ...report
  }
  Fs.mkdirSync(Path.dirname(out), { recursive: true })
  Fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n")
  const written = values["no-write"]
    ? undefined
    : ReliabilityResults.write(result.command, [`overload (${backend}): `], figures(backend, report))
  const { capacity, drain, healthz, offer } = report
  yield* Console.log([
    "",
    `capacity       ${capacity.workflowsPerSecond} research workflows/s (${capacity.completed} in ${capacity.seconds} s)`,
    `offered        ${offer.ratePerSecond}/s for ${offer.seconds} s: ${offer.sent} sent, ${offer.accepted} accepted, ` +
    `${offer.rejected429} answered 429, other ${JSON.stringify(offer.otherStatus)}, ${offer.unanswered} unanswered`,
    `/healthz       p50 ${healthz.latencyMillis.p50} ms, p90 ${healthz.latencyMillis.p90} ms, ` +
    `p99 ${healthz.latencyMillis.p99} ms, max ${healthz.latencyMillis.max} ms ` +
    `(${healthz.samples} samples, ${healthz.over100ms} over 100 ms, ${healthz.failed} failed)`,
    `heap           max ${report.heap.maxHeapUsedMB} MB used, max RSS ${report.heap.maxRssMB} MB ` +
    `(${report.heap.samples.length} samples)`,
    `service loop   largest delay per second: p50 ${report.serviceLoop.maxDelayPerSecondMillis.p50} ms, ` +
    `p99 ${report.serviceLoop.maxDelayPerSecondMillis.p99} ms; CPU per second p50 ` +
    `${report.serviceLoop.cpuMillisPerSecond.p50} ms, p99 ${report.serviceLoop.cpuMillisPerSecond.p99} ms; ` +
    `waiting for a CPU per second p50 ${report.serviceLoop.runQueueMillisPerSecond.p50} ms, ` +
    `p99 ${report.serviceLoop.runQueueMillisPerSecond.p99} ms`,
    `drain          ${drain.drained ? "drained" : "NOT drained"} in ${drain.seconds} s; ` +
    `accepted tasks: ${JSON.stringify(drain.statuses)}`,
    `load average   before ${loadBefore.join(" ")}, after ${result.machine.loadAverageAfter.join(" ")}`,
    `report         ${out}`,
    ...(written === undefined ? [] : [`figures        ${written}`])
  ].join("\n"))
})

main.pipe(Effect.scoped, NodeRuntime.runMain)
