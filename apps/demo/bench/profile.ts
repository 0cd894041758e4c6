// Where a research workflow's time goes in the whole stack: runs workflows one
// after another (as the benchmark does) under a tracer that records every
// span, then prints, per workflow, each span name's count, its inclusive time
// and its self time (minus its child spans), the SQL statements by the span
// that issued them, and the time outside the task's span (submit, admission,
// queue, claim, the handle's await).
//
//   pnpm --filter @agentos/demo exec tsx --conditions=@agentos/source bench/profile.ts
//   (PROFILE_OPS, default 30; AGENTOS_TEST_PG_URL for PROFILE_BACKEND=postgres;
//   PROFILE_CPU=<file> also writes a CPU profile of the measured workflows only)
import * as Backends from "@agentos/testkit/Backends"
import * as Reactivity from "@effect/experimental/Reactivity"
import type { SqlClient } from "@effect/sql"
import { Effect, Layer, ManagedRuntime, Option, Tracer } from "effect"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Stack from "../src/Stack.js"
import { Team } from "../src/Team.js"
import { config } from "./config.js"

const OPS = Number(process.env.PROFILE_OPS ?? 30)
const BACKEND = process.env.PROFILE_BACKEND ?? "sqlite"

interface Recorded {
  readonly name: string
  readonly spanId: string
  readonly parentId: string | undefined
  readonly start: bigint
  end: bigint | undefined
}

let recording = false
const spans: Array<Recorded> = []
const base = Effect.runSync(Effect.tracer)
const tracer = Tracer.make({
  span: (name, parent, context, links, startTime, kind, options) => {
    const span = base.span(name, parent, context, links, startTime, kind, options)
    if (!recording) return span
    const entry: Recorded = {
      name,
      spanId: span.spanId,
      parentId: Option.getOrUndefined(Option.map(parent, (p) => p.spanId)),
      start: startTime,
      end: undefined
    }
    spans.push(entry)
    const end = span.end.bind(span)
    span.end = (endTime, exit) => {
      entry.end = endTime
      end(endTime, exit)
    }
    return span
  },
  context: base.context
})

const sql: Layer.Layer<SqlClient.SqlClient, unknown> = BACKEND === "postgres"
  ? Backends.postgres()
  : (() => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-profile-"))
    process.on("exit", () => Fs.rmSync(dir, { recursive: true, force: true }))
    return Backends.sqlite({ filename: Path.join(dir, "agentos.db") })
  })()

const runtime = ManagedRuntime.make(
  Stack.layer(config, sql).pipe(Layer.provide(Reactivity.layer), Layer.provide(Layer.setTracer(tracer)))
)
const one = (i: number) =>
  runtime.runPromise(
    Effect.flatMap(Team, (team) => team.run({ topic: `topic ${i}`, agent: config.agents[i % 3]! })).pipe(
      Effect.withSpan("profile.workflow")
    )
  )

for (let i = 0; i < 10; i++) await one(i)
const cpuFile = process.env.PROFILE_CPU
const session = cpuFile === undefined ? undefined : new Inspector.Session()
if (session !== undefined) {
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
}
recording = true
const started = process.hrtime.bigint()
for (let i = 0; i < OPS; i++) await one(100 + i)
const wall = Number(process.hrtime.bigint() - started) / 1e6 / OPS
recording = false
if (session !== undefined) {
  const { profile } = await session.post("Profiler.stop")
  Fs.writeFileSync(cpuFile!, JSON.stringify(profile))
  session.disconnect()
}

const byId = new Map(spans.map((s) => [s.spanId, s]))
const duration = (s: Recorded) => s.end === undefined ? 0 : Number(s.end - s.start) / 1e6
const childTime = new Map<string, number>()
for (const s of spans) {
  if (s.parentId !== undefined && byId.has(s.parentId)) {
    childTime.set(s.parentId, (childTime.get(s.parentId) ?? 0) + duration(s))
  }
}
const rows = new Map<string, { count: number; total: number; self: number }>()
for (const s of spans) {
  const row = rows.get(s.name) ?? { count: 0, total: 0, self: 0 }
  row.count++
  row.total += duration(s)
  row.self += Math.max(0, duration(s) - (childTime.get(s.spanId) ?? 0))
  rows.set(s.name, row)
}
// The SQL by the nearest span that is not SQL: its statements (`sql.execute`) and the time of
// its outermost SQL spans (a transaction's time holds its statements').
const isSql = (name: string) => name.startsWith("sql.")
const sqlBy = new Map<string, { statements: number; total: number }>()
for (const s of spans) {
  if (!isSql(s.name)) continue
  let owner = s.parentId === undefined ? undefined : byId.get(s.parentId)
  const outermost = owner === undefined || !isSql(owner.name)
  while (owner !== undefined && isSql(owner.name)) owner = owner.parentId ? byId.get(owner.parentId) : undefined
  const key = owner?.name ?? "(no span)"
  const row = sqlBy.get(key) ?? { statements: 0, total: 0 }
  if (s.name === "sql.execute") row.statements++
  if (outermost) row.total += duration(s)
  sqlBy.set(key, row)
}
const fmt = (n: number) => n.toFixed(2).padStart(9)
console.log(`${BACKEND}: ${OPS} workflows, ${wall.toFixed(2)} ms per workflow (wall)`)
console.log(`${"span".padEnd(44)} ${"n/wf".padStart(7)} ${"incl ms".padStart(9)} ${"self ms".padStart(9)}`)
for (const [name, row] of [...rows].sort((a, b) => b[1].self - a[1].self)) {
  console.log(
    `${name.padEnd(44)} ${(row.count / OPS).toFixed(1).padStart(7)} ${fmt(row.total / OPS)} ${fmt(row.self / OPS)}`
  )
}
console.log(`\nSQL by the span that issued it, per workflow: statements, ms`)
for (const [name, row] of [...sqlBy].sort((a, b) => b[1].total - a[1].total)) {
  console.log(`${name.padEnd(44)} ${(row.statements / OPS).toFixed(1).padStart(7)} ${fmt(row.total / OPS)}`)
}
await runtime.dispose()
process.exit(0)
