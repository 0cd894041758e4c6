// The memory of the demo's simulated day, at its size: 1,000 agents with 200
// memories each and a team of 5,000, on the memory layer (exact o200k
// counts). Measures seeding it through `add` (one call per memory) and
// through `addMany` (one call per agent, and one for the team), then — after
// each agent has added a dozen "sources on <topic>: …" results, over ten
// shared topics, as the simulation's research steps do — an agent's scoped
// `recall` and `buildContext` with a topic as the query.
// Run: pnpm --filter @agentos/memory bench:scale (it prints its figures; it writes no results file)
import * as TokenCounter from "@agentos/core/TokenCounter"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Os from "node:os"
import * as AgentMemory from "../src/AgentMemory.js"
import type * as Memory from "../src/Memory.js"
import { manualClock } from "./clock.js"

const AGENTS = Number(process.env.MEMORY_SCALE_AGENTS ?? 1_000)
const PER_AGENT = 200
const TEAM = 5_000
const RESULTS_PER_AGENT = 12
const QUERIES = Number(process.env.MEMORY_SCALE_QUERIES ?? 200)
const METHODS = (process.env.MEMORY_SCALE_SEED ?? "add,addMany").split(",")

const TOPICS = [
  "agent runtimes in production",
  "backpressure in LLM pipelines",
  "token budgets for agent teams",
  "memory decay for long-running agents",
  "checkpointing agent workflows",
  "routing requests to cheaper models",
  "dead letter queues for AI tasks",
  "optimistic locking for shared agent state",
  "evaluating retrieval for research agents",
  "rate limits of hosted models"
]
const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "de", "fi", "go", "hu", "ja"]
const VOCABULARY = Array.from(
  { length: 4_096 },
  (_, i) => `${SYLLABLES[i & 15]}${SYLLABLES[(i >> 4) & 15]}${SYLLABLES[(i >> 8) & 15]}`
)
let seed = 7
const draw = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
const words = (n: number) =>
  Array.from({ length: n }, () => VOCABULARY[Math.floor(draw() * VOCABULARY.length)]!).join(" ")
const TYPES = ["fact", "result", "context", "conversation"] as const

let now = 1_700_000_000_000
const clock = manualClock(() => now)

const agentName = (a: number) => `agent-${String(a).padStart(4, "0")}`
seed = 7
const perAgent: Array<Array<Memory.AddInput>> = Array.from(
  { length: AGENTS },
  (_, a) =>
    Array.from({ length: PER_AGENT }, (_, i) => ({
      text: words(10),
      type: TYPES[i % TYPES.length]!,
      agent: agentName(a),
      importance: Math.round(draw() * 100) / 100
    }))
)
const team: Array<Memory.AddInput> = Array.from({ length: TEAM }, () => ({
  text: words(12),
  type: "fact",
  importance: Math.round(draw() * 100) / 100
}))
const results: Array<Memory.AddInput> = Array.from({ length: AGENTS * RESULTS_PER_AGENT }, (_, i) => ({
  text: `sources on ${TOPICS[Math.floor(draw() * TOPICS.length)]!}: ${words(8)}`,
  type: "result",
  agent: agentName(i % AGENTS),
  importance: 0.4
}))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  console.log(
    `${AGENTS} agents x ${PER_AGENT} + ${TEAM} team memories; load average ${
      Os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }; ${new Date().toISOString()}`
  )
  for (const method of METHODS) {
    const runtime = ManagedRuntime.make(
      AgentMemory.layerMemory({ maxEntries: AGENTS * (PER_AGENT + RESULTS_PER_AGENT) + TEAM }).pipe(
        Layer.provideMerge(TokenCounter.layer)
      )
    )
    const run = <A, E>(effect: Effect.Effect<A, E, AgentMemory.AgentMemory>) =>
      runtime.runPromise(Effect.withClock(effect, clock))
    const memory = await runtime.runPromise(AgentMemory.AgentMemory)
    const t0 = performance.now()
    if (method === "addMany") {
      const addMany = (memory as unknown as {
        addMany: (inputs: ReadonlyArray<Memory.AddInput>) => Effect.Effect<unknown, unknown>
      }).addMany
      await run(Effect.forEach([...perAgent, team], (inputs) => addMany(inputs), { discard: true }))
    } else {
      await run(Effect.forEach([...perAgent.flat(), ...team], (input) => memory.add(input), { discard: true }))
    }
    const seeded = performance.now() - t0
    now += 60_000
    await run(Effect.forEach(results, (input) => memory.add(input), { discard: true }))
    const total = (await run(memory.stats())).total
    console.log(
      `seed through ${method}: ${(seeded / 1000).toFixed(2)} s (${
        ((seeded * 1000) / (AGENTS * PER_AGENT + TEAM)).toFixed(1)
      } µs per memory); ${total} live after the results`
    )
    if (method !== METHODS[0]) {
      await runtime.dispose()
      continue
    }
    // the first query fills the text index; the first context loads the token counter (not timed)
    const t1 = performance.now()
    await run(memory.recall({ agent: agentName(0), query: TOPICS[0]!, topK: 20 }))
    console.log(
      `the first query (fills the text index of ${total} memories): ${(performance.now() - t1).toFixed(0)} ms`
    )
    await run(memory.buildContext({ maxTokens: 1, query: TOPICS[0]! }))
    const timed = async (f: (i: number) => Effect.Effect<unknown, unknown, never>) => {
      const times: Array<number> = []
      for (let i = 0; i < QUERIES; i++) {
        now += 1_000
        const t = performance.now()
        await run(f(i))
        times.push(performance.now() - t)
      }
      return median(times)
    }
    const agentOf = (i: number) => agentName((i * 7_919) % AGENTS)
    const topicOf = (i: number) => TOPICS[i % TOPICS.length]!
    const recallMs = await timed((i) => memory.recall({ agent: agentOf(i), query: topicOf(i), topK: 20 }))
    const contextMs = await timed((i) =>
      memory.buildContext({ agent: agentOf(i), includeTeam: true, query: topicOf(i), maxTokens: 2_000 })
    )
    console.log(
      `scoped recall (agent + team, a topic as query, top 20): median ${
        recallMs.toFixed(3)
      } ms; scoped buildContext (2,000 tokens): median ${contextMs.toFixed(3)} ms (${QUERIES} calls each)`
    )
    await runtime.dispose()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
