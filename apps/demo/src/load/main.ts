// pnpm demo:load — see Load.ts and the README's "Load generator" section.
import { FetchHttpClient } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as Load from "./Load.js"

const USAGE = `Usage: pnpm demo:load [options]

  --url <url>        the service (default $AGENTOS_URL or http://127.0.0.1:3000)
  --token <token>    bearer token (default $AGENTOS_API_TOKEN)
  --agents <n>       concurrent agents (default 50)
  --duration <s>     seconds of submitting (default 30 unless --count is given)
  --count <n>        stop after n submissions
  --drain <s>        seconds to wait for accepted work to finish (default 60)
  --priority <0-9>   the tasks' priority
  --out <file>       the JSON report (default load-report.json)
  --help`

const ARGS = {
  url: { type: "string" },
  token: { type: "string" },
  agents: { type: "string" },
  duration: { type: "string" },
  count: { type: "string" },
  drain: { type: "string" },
  priority: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean" }
} as const

const number = (value: string | undefined) => (value === undefined ? undefined : Number(value))

const bar = (progress: Load.Progress) => {
  const width = 30
  const filled = Math.round(progress.fraction * width)
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(progress.elapsedMillis / 1000).toFixed(1)}s ` +
    `sent ${progress.sent} accepted ${progress.accepted} 429 ${progress.rejected} errors ${progress.errors}`
}

const summary = (report: Load.Report, file: string) =>
  [
    `${report.requests.sent} submissions by ${report.agents} agents in ${report.durationSeconds}s to ${report.url}`,
    `  accepted ${report.requests.accepted} (${report.acceptedPerSecond}/s), 429 ${report.requests.rejected429}, ` +
    `other ${JSON.stringify(report.requests.otherStatus)}, no answer ${report.requests.failed}`,
    `  latency ms: p50 ${report.latencyMillis.p50}  p90 ${report.latencyMillis.p90}  ` +
    `p99 ${report.latencyMillis.p99}  max ${report.latencyMillis.max}`,
    `  drain: ${report.drain.drained ? "all work ended" : "work still running"} after ${report.drain.seconds}s`,
    `  service: accepted ${report.service.accepted}, 429 ${report.service.rejected429}, ` +
    `tasks ended ${report.service.tasksEnded} (${report.service.taskErrors} failed), ` +
    `spent $${(report.service.spentMicros / 1e6).toFixed(6)}, dead letters ${report.service.deadLetters}`,
    `  report: ${file}`
  ].join("\n")

const main = Effect.gen(function*() {
  const { values } = yield* Effect.try({
    try: () => parseArgs({ options: ARGS }),
    catch: (error) => new Load.LoadError({ message: `${(error as Error).message}\n${USAGE}` })
  })
  if (values.help) return yield* Console.log(USAGE)
  const count = number(values.count)
  const duration = number(values.duration) ?? (count === undefined ? 30 : undefined)
  const token = values.token ?? process.env.AGENTOS_API_TOKEN
  const options = {
    url: values.url ?? process.env.AGENTOS_URL ?? "http://127.0.0.1:3000",
    agents: number(values.agents) ?? 50,
    drainMillis: Math.round((number(values.drain) ?? 60) * 1000),
    ...(token === undefined || token === "" ? {} : { token }),
    ...(duration === undefined ? {} : { durationMillis: Math.round(duration * 1000) }),
    ...(count === undefined ? {} : { count }),
    ...(values.priority === undefined ? {} : { priority: number(values.priority) })
  }
  const tty = process.stderr.isTTY
  const report = yield* Load.run(options, (progress) => {
    if (tty) process.stderr.write(`\r${bar(progress)}\x1b[K`)
  })
  if (tty) process.stderr.write("\n")
  // pnpm runs the script in apps/demo; a relative path is the caller's.
  const file = Path.resolve(process.env.INIT_CWD ?? process.cwd(), values.out ?? "load-report.json")
  Fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n")
  yield* Console.log(summary(report, file))
})

main.pipe(
  Effect.catchTag(
    "LoadError",
    (error) => Effect.zipRight(Console.error(`demo:load: ${error.message}`), Effect.sync(() => process.exit(1)))
  ),
  Effect.provide(FetchHttpClient.layer),
  NodeRuntime.runMain
)
