// What a simulated workflow cannot cost less than: the CPU time per
// operation of the pieces every research workflow of `demo:simulate` goes
// through, each measured alone in this process on the memory layers (the
// simulation's stack), beside the floor of @effect/ai itself (its
// `LanguageModel.generateText` over a provider that answers a constant). The
// default run's target (24,000 workflows in 60 s, seeding included) leaves
// 2,500 µs of CPU per workflow on one core; a workflow makes four model
// calls, builds four prompts from memory and runs four checkpointed steps as
// one supervisor task.
//
//   pnpm --filter @agentos/demo bench:floor   (FLOOR_OPS, FLOOR_ROUNDS to change the run)
//
// CPU time (process.cpuUsage, user + system) rather than wall time: the
// figures are per operation of one process, and CPU time moves less than
// wall time on a shared machine. Rounds alternate between the measurements;
// each figure is the median of its rounds. Writes the `demo:floor` figures
// of bench/results/demo.json (the others are kept).
import { Workflow, WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator } from "@agentos/core"
import { AgentMemory } from "@agentos/memory"
import { Supervisor, Task } from "@agentos/supervisor"
import * as Bench from "@agentos/testkit/Bench"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { Duration, Effect, Layer, ManagedRuntime, Schema } from "effect"
import * as Os from "node:os"
import * as Models from "../src/Models.js"
import { seeded } from "../src/Seeded.js"
import * as SimulateOptions from "../src/simulate/Options.js"
import * as Simulation from "../src/simulate/Simulation.js"
import * as Stack from "../src/Stack.js"
import { Team } from "../src/Team.js"

const OPS = Number(process.env.FLOOR_OPS ?? 2_000)
const ROUNDS = Number(process.env.FLOOR_ROUNDS ?? 5)
const CONCURRENCY = 16

const cpuMicros = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

// A 2,000-token prompt as the simulation builds them: a question, then source material of its made-up words.
const draw = seeded(17)
const material = Simulation.words(draw, 1_300)
const prompt = (i: number) =>
  `List the requirements of a brief on: agent runtimes in production ${i}\n\nSources:\n${material}`.slice(0, 8_000)

// The simulation's stack: every store in memory, the process over them, the default run's options.
const options = SimulateOptions.defaults(1_000)
const config = Simulation.appConfig(options)
const agents = config.agents
let sequence = 0
const stores = Layer.merge(
  Stack.storesMemory(config, { maxEntries: options.agents * options.agentMemory + options.teamMemory }),
  IdGenerator.layerSequential("floor")
)
const models = Models.layer({ ...config, simLatency: Duration.zero, simFailureRate: 0 })
const stack = ManagedRuntime.make(Layer.provideMerge(Stack.instance(config, models), stores))

// The default run's memories: 200 for each agent, 5,000 for the team, ten or twelve words each.
const seedMemory = Effect.gen(function*() {
  const memory = yield* AgentMemory.AgentMemory
  const types = ["fact", "result", "context", "conversation"] as const
  for (const agent of agents) {
    yield* memory.addMany(Array.from({ length: options.agentMemory }, (_, i) => ({
      text: Simulation.words(draw, 10),
      type: types[i % types.length]!,
      agent,
      importance: Math.round(draw() * 100) / 100
    })))
  }
  yield* memory.addMany(Array.from({ length: options.teamMemory }, () => ({
    text: Simulation.words(draw, 12),
    type: "fact",
    importance: Math.round(draw() * 100) / 100
  })))
})

// The skeleton: four checkpointed steps that do nothing, as one supervisor task.
const State = Schema.Struct({ topic: Schema.String, agent: Schema.String, done: Schema.optional(Schema.Number) })
const noSteps = Workflow.make({ name: "floor", version: 1, state: State })
  .step({ name: "gather-requirements", run: () => Effect.succeed({ done: 1 }) })
  .step({ name: "search-sources", run: () => Effect.succeed({ done: 2 }) })
  .step({ name: "synthesize", run: () => Effect.succeed({ done: 3 }) })
  .step({ name: "format", run: () => Effect.succeed({ done: 4 }) })
const Payload = Schema.Struct({ id: Schema.String, topic: Schema.String, agent: Schema.String })
const floorTask = Task.taskType("floor", { payload: Payload, result: Schema.Number, maxQueued: 100_000 })
const skeleton = ManagedRuntime.make(
  Layer.unwrapEffect(Effect.map(WorkflowEngine.WorkflowEngine, (engine) =>
    Supervisor.layerMemory({
      types: [floorTask],
      workers: [
        Task.worker(floorTask, {
          name: "floor",
          maxConcurrent: CONCURRENCY,
          handler: (payload) =>
            engine.execute(noSteps, payload.id, { topic: payload.topic, agent: payload.agent }).pipe(
              Effect.map((state) => state.done ?? 0),
              Effect.orDie
            )
        })
      ]
    }))).pipe(Layer.provide(WorkflowEngine.layerMemory()))
)

// @effect/ai's own cost: generateText over a provider that answers at once with a constant.
const answer = "Requirements follow from the sources. ".repeat(30)
const constantModel = Effect.runSync(LanguageModel.make({
  generateText: () =>
    Effect.succeed([
      { type: "text", text: answer },
      {
        type: "finish",
        reason: "stop",
        usage: { inputTokens: 2_000, outputTokens: 200, totalTokens: 2_200 },
        metadata: {}
      }
    ] as never),
  streamText: () => {
    throw new Error("not used")
  }
}))

const many = <R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown> | undefined,
  ops: number,
  one: (i: number) => Effect.Effect<unknown, unknown, R>
) => {
  const all = Effect.forEach(Array.from({ length: ops }, (_, i) => i), one, {
    concurrency: CONCURRENCY,
    discard: true
  })
  return runtime === undefined ? Effect.runPromise(all as Effect.Effect<void, unknown>) : runtime.runPromise(all)
}

const measurements: ReadonlyArray<{
  readonly name: string
  readonly what: string
  readonly ops: number
  readonly run: (ops: number) => Promise<unknown>
}> = [
  {
    name: "@effect/ai LanguageModel.generateText, constant provider",
    what: "a call of @effect/ai's generateText over a provider that answers a constant at once (not ours: the floor)",
    ops: OPS * 4,
    run: (ops) => many(undefined, ops, (i) => constantModel.generateText({ prompt: prompt(i) }))
  },
  {
    name: "checkpointed workflow of 4 no-op steps, as one supervisor task",
    what: "submit + await of a supervisor task running WorkflowEngine.execute of four steps that do nothing",
    ops: OPS,
    run: (ops) =>
      many(skeleton, ops, (i) =>
        Effect.flatMap(Supervisor.Supervisor, (supervisor) =>
          Effect.flatMap(
            supervisor.submit({
              type: "floor",
              payload: { id: `w-${++sequence}`, topic: "t", agent: agents[i % agents.length]! }
            }),
            (handle) => handle.await
          )))
  },
  {
    name: "Models.complete, one routed call",
    what: "one model call of a research step: routed by the router, reserved and settled in two spend scopes, " +
      "answered by the simulated provider, a 2,000-token prompt",
    ops: OPS * 4,
    run: (ops) =>
      many(stack, ops, (i) =>
        Models.complete({
          agent: agents[i % agents.length]!,
          step: "gather-requirements",
          prompt: prompt(i),
          complexity: "simple",
          outputTokens: 200
        }))
  },
  {
    name: "AgentMemory.buildContext, a research step's prompt context",
    what: "buildContext of a research step (agent + team, a topic query, 300 tokens, 20 candidates) " +
      "over the default run's 205,000 memories (200 per agent, 5,000 for the team)",
    ops: OPS * 4,
    run: (ops) =>
      many(stack, ops, (i) =>
        Effect.flatMap(AgentMemory.AgentMemory, (memory) =>
          memory.buildContext({
            agent: agents[i % agents.length]!,
            includeTeam: true,
            query: "agent runtimes in production",
            maxTokens: 300,
            candidates: 20
          })))
  },
  {
    name: "Team.run, one research workflow, whole stack",
    what: "one research workflow through the whole stack on the memory layers (admission, supervisor, " +
      "checkpoint engine, four routed calls, memory, shared state), no latency, no failures",
    ops: Math.max(1, Math.floor(OPS / 4)),
    run: (ops) =>
      many(
        stack,
        ops,
        (i) =>
          Effect.flatMap(Team, (team) =>
            team.run({ topic: `agent runtimes in production ${++sequence}`, agent: agents[i % agents.length]! }))
      )
  }
]

await stack.runPromise(seedMemory)

const perOp: Map<string, Array<number>> = new Map(measurements.map((m) => [m.name, []]))
// A warm-up round first (not counted), then the rounds, alternating between the measurements.
for (let round = 0; round <= ROUNDS; round++) {
  for (const m of measurements) {
    const ops = round === 0 ? Math.max(1, Math.floor(m.ops / 4)) : m.ops
    const before = cpuMicros()
    await m.run(ops)
    const micros = (cpuMicros() - before) / ops
    if (round > 0) perOp.get(m.name)!.push(micros)
    console.log(`${round === 0 ? "warm-up" : `round ${round}`}: ${m.name}: ${micros.toFixed(0)} µs CPU per operation`)
  }
}

const figures: Array<Bench.Figure> = measurements.map((m) => {
  const values = perOp.get(m.name)!
  return {
    name: `demo:floor ${m.name}`,
    value: Bench.round(Bench.median(values)),
    unit: "µs CPU/op",
    better: "lower",
    config: {
      ops: m.ops,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      min: Bench.round(Math.min(...values)),
      max: Bench.round(Math.max(...values)),
      loadAverage: Os.loadavg()[0]!
    },
    note: `${m.what}; median of ${ROUNDS} rounds (min ${Math.min(...values).toFixed(0)}, max ${
      Math.max(...values).toFixed(0)
    }); the simulation's target leaves 2,500 µs of CPU per workflow`
  }
})

console.log("\nµs of CPU per operation (median):")
for (const f of figures) console.log(`  ${String(f.value).padStart(8)}  ${f.name.slice("demo:floor ".length)}`)

await stack.dispose()
await skeleton.dispose()
const kept = Bench.readFigures("demo").filter((f) => !f.name.startsWith("demo:floor"))
const file = Bench.writeResults(
  "demo",
  "pnpm --filter @agentos/demo bench:floor (the other figures kept from an earlier run)",
  [...kept, ...figures]
)
console.log(`wrote ${file}`)
process.exit(0)
