// The per-workflow overhead of the whole stack: one research run through all
// seven packages (admitted by the token budget and the spend policy, queued in
// the supervisor's durable queue, claimed under a lease and dispatched, run
// by the checkpoint engine with a checkpoint per step, each step's prompt
// built from memory, routed, reserved and settled by the router, its result
// remembered, the team's progress in shared state, the grant committed)
// against the same four steps called directly on the same simulated
// provider (no latency, no failures), side by side in one process, on SQLite
// and on Postgres (with AGENTOS_TEST_PG_URL).
//
//   pnpm --filter @agentos/demo bench     (BENCH_OPS, BENCH_ROUNDS to change the run)
//
// Then, on each backend, `demo:load` against the service started in-process
// (team off, the same zero-latency provider): 50 agents for LOAD_SECONDS
// (default 20), the accepted submissions per second and their p50/p99 latency.
//
// bench/profile.ts shows where the time goes (spans per layer, SQL statements
// by the span that issued them, optionally a CPU profile).
import { DefaultCatalog, ModelCatalog, SimulatedProvider } from "@agentos/router"
import * as Backends from "@agentos/testkit/Backends"
import * as Bench from "@agentos/testkit/Bench"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Reactivity from "@effect/experimental/Reactivity"
import { FetchHttpClient, HttpServer } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Layer, ManagedRuntime, Runtime } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Load from "../src/load/Load.js"
import * as Models from "../src/Models.js"
import * as Server from "../src/Server.js"
import * as SimulateOptions from "../src/simulate/Options.js"
import * as Simulation from "../src/simulate/Simulation.js"
import * as Stack from "../src/Stack.js"
import { Team } from "../src/Team.js"
import { config } from "./config.js"

const OPS = Number(process.env.BENCH_OPS ?? 40)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 20)
const LOAD_AGENTS = 50

let sequence = 0

const stack = (sql: Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const runtime = ManagedRuntime.make(Stack.layer(config, sql).pipe(Layer.provide(Reactivity.layer)))
  const contender: Bench.Contender = {
    name: "the whole stack",
    run: async (ops) => {
      for (let i = 0; i < ops; i++) {
        const report = await runtime.runPromise(
          Effect.flatMap(Team, (team) => team.run({ topic: `topic ${++sequence}`, agent: config.agents[i % 3]! }))
        )
        if (!report.startsWith("# topic")) throw new Error("the stack: wrong report")
      }
    }
  }
  return { contender, dispose: () => runtime.dispose() }
}

// The same four steps and prompts, each sent straight to the simulated provider's own
// LanguageModel for the model the router picks for that step (no routing, no accounting,
// no checkpoint, no memory, no state, no supervisor).
const STEPS = [
  ["gpt-5-nano", (topic: string) => `List the requirements of a brief on: ${topic}`],
  ["gpt-4o-mini", (topic: string) => `Find sources on: ${topic}`],
  ["deepseek-chat", (topic: string) => `Synthesize the findings on ${topic} from: `],
  ["gpt-5-nano", (topic: string) => `Format a one-page report on ${topic}`]
] as const

const options = Models.simulated({ latency: Duration.zero, failureRate: 0 })
const providers = Object.fromEntries(
  await Promise.all([...new Set(STEPS.map(([model]) => model))].map(async (name) => {
    const model = ModelCatalog.find(DefaultCatalog.catalog, name)!
    const runtime = ManagedRuntime.make(SimulatedProvider.layerLanguageModel(model, options))
    return [name, await runtime.runtime()] as const
  }))
)

const direct: Bench.Contender = {
  name: "the four steps called directly",
  run: async (ops) => {
    for (let i = 0; i < ops; i++) {
      const topic = `topic ${++sequence}`
      const answers: Array<string> = []
      for (const [model, question] of STEPS) {
        const response = await Runtime.runPromise(providers[model]!)(
          LanguageModel.generateText({ prompt: question(topic) + (answers[1] ?? "") })
        )
        if (response.text.length === 0) throw new Error("direct: empty answer")
        answers.push(response.text)
      }
      const report = `# ${topic}\n\n${answers[2]}\n\n${answers[3]}`
      if (!report.startsWith("# topic")) throw new Error("direct: wrong report")
    }
  }
}

const figures: Array<Bench.Figure> = []
// BENCH_ONLY=simulate measures the simulation alone, BENCH_ONLY=stack everything but the simulation;
// each keeps the file's other figures as they were.
const only = process.env.BENCH_ONLY
if (only !== undefined && only !== "simulate" && only !== "stack") {
  console.error(`BENCH_ONLY must be simulate or stack, got ${only}`)
  process.exit(2)
}
const backends: Array<[string, () => Layer.Layer<SqlClient.SqlClient, unknown>]> = [
  ["sqlite", () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-bench-"))
    process.on("exit", () => Fs.rmSync(dir, { recursive: true, force: true }))
    return Backends.sqlite({ filename: Path.join(dir, "agentos.db") })
  }],
  ...(Backends.pgUrl() === undefined
    ? []
    : [["postgres", () => Backends.postgres()] as [string, () => Layer.Layer<SqlClient.SqlClient, unknown>]])
]

for (const [name, sql] of only === "simulate" ? [] : backends) {
  const ours = stack(sql())
  const comparison = await Bench.compare(ours.contender, direct, { ops: OPS, rounds: ROUNDS, warmupOps: 10 })
  await ours.dispose()
  const overhead = comparison.ours - comparison.baseline
  console.log(
    `${name}: stack ${comparison.ours.toFixed(0)} µs/workflow, direct ${comparison.baseline.toFixed(1)} µs/workflow, ` +
      `overhead ${overhead.toFixed(0)} µs/workflow (rounds ${comparison.oursRange.map((v) => v.toFixed(0)).join("–")})`
  )
  figures.push({
    name: `research workflow through the whole stack (${name})`,
    value: comparison.ours,
    unit: "µs/op",
    better: "lower",
    config: { backend: name, ops: OPS, rounds: ROUNDS, steps: 4, latencyMillis: 0 },
    baseline: { name: direct.name, value: comparison.baseline },
    ratio: comparison.ratio,
    spread: {
      min: comparison.oursRange[0],
      max: comparison.oursRange[1],
      baselineMin: comparison.baselineRange[0],
      baselineMax: comparison.baselineRange[1]
    },
    note: `overhead of the stack: ${overhead.toFixed(0)} µs per workflow (median of ${ROUNDS} rounds of ${OPS})`
  })
}

// demo:load against the service over HTTP, on each backend.
for (const [name, sql] of only === "simulate" ? [] : backends) {
  const report = await Effect.runPromise(
    Effect.gen(function*() {
      const context = yield* Layer.build(
        Server.layerWith(config, sql(), { terminal: false }).pipe(Layer.provide(Reactivity.layer))
      )
      const base = Server.baseUrl(Context.get(context, HttpServer.HttpServer).address)
      return yield* Load.run({
        url: base,
        agents: LOAD_AGENTS,
        durationMillis: LOAD_SECONDS * 1000,
        drainMillis: 120_000
      })
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )
  const { acceptedPerSecond, latencyMillis, requests } = report
  console.log(
    `${name}: demo:load ${LOAD_AGENTS} agents ${report.durationSeconds}s: ${acceptedPerSecond} accepted/s, ` +
      `p50 ${latencyMillis.p50} ms, p99 ${latencyMillis.p99} ms, 429 ${requests.rejected429}, ` +
      `drained ${report.drain.drained} in ${report.drain.seconds}s`
  )
  const loadConfig = {
    backend: name,
    agents: LOAD_AGENTS,
    seconds: report.durationSeconds,
    sent: requests.sent,
    accepted: requests.accepted,
    rejected429: requests.rejected429,
    maxQueued: config.maxQueued,
    latencyMillis: 0
  }
  figures.push({
    name: `task submissions accepted per second under demo:load (${name})`,
    value: acceptedPerSecond,
    unit: "tasks/s",
    better: "higher",
    config: loadConfig,
    note: `${requests.sent} submissions (${requests.rejected429} answered 429); the accepted work ` +
      `${report.drain.drained ? "all ended" : "had not all ended"} ${report.drain.seconds} s after the last`
  }, {
    name: `submit latency p50 under demo:load (${name})`,
    value: latencyMillis.p50,
    unit: "ms",
    better: "lower",
    config: loadConfig
  }, {
    name: `submit latency p99 under demo:load (${name})`,
    value: latencyMillis.p99,
    unit: "ms",
    better: "lower",
    config: loadConfig
  })
}

// The day-long simulation's default run (pnpm demo:simulate): 1,000 agents × 24 simulated hours,
// 24,000 research workflows on the memory layers under TestClock; its wall time, report excluded.
// SIM_AGENTS / SIM_HOURS change the run (the figure's name says which run it was).
if (only !== "stack") {
  const agents = Number(process.env.SIM_AGENTS ?? 1_000)
  const simulation = { ...SimulateOptions.defaults(agents), hours: Number(process.env.SIM_HOURS ?? 24) }
  const started = performance.now()
  const report = await Effect.runPromise(Simulation.run(simulation))
  const seconds = (performance.now() - started) / 1000
  console.log(
    `demo:simulate ${agents} agents × ${simulation.hours} h: ${seconds.toFixed(1)} s wall, ` +
      `${report.runs.submitted} runs, ${report.calls.total} model calls`
  )
  figures.push({
    name: `demo:simulate wall time (${agents} agents × ${simulation.hours} h)`,
    value: seconds,
    unit: "s",
    better: "lower",
    config: {
      agents,
      hours: simulation.hours,
      seed: simulation.seed,
      runs: report.runs.submitted,
      completed: report.runs.completed,
      modelCalls: report.calls.total,
      crashes: report.crashes,
      resumed: report.workflows.resumed,
      loadAverage: Os.loadavg()[0]!
    },
    target: {
      source: "issue #17",
      description: "the default run (1,000 agents × 24 h) in under 60 s on this 2-core machine",
      max: 60,
      met: agents >= 1_000 && simulation.hours >= 24 && seconds < 60
    },
    note: `target under 60 s for the default run (1000 agents × 24 h); load average ${
      Os.loadavg().map((l) => l.toFixed(1)).join(" ")
    } at its end`
  })
}

const isSimulation = (f: Bench.Figure) => f.name.startsWith("demo:simulate")
// bench/floor.ts writes the demo:floor figures: always kept.
const isFloor = (f: Bench.Figure) => f.name.startsWith("demo:floor")
const kept: ReadonlyArray<Bench.Figure> = Bench.readFigures("demo").filter((f) =>
  isFloor(f) || (only !== undefined && (only === "simulate" ? !isSimulation(f) : isSimulation(f)))
)

const file = Bench.writeResults(
  "demo",
  only === undefined
    ? "pnpm --filter @agentos/demo bench"
    : `BENCH_ONLY=${only} pnpm --filter @agentos/demo bench (the other figures kept from an earlier run)`,
  [...kept, ...figures]
)
console.log(`wrote ${file}`)
process.exit(0)
