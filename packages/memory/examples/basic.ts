// The README's example: remember, recall by query, mark what was used, and
// build a context within an exact token budget.
import { AgentMemory } from "@agentos/memory"
import * as Effect from "effect/Effect"

export const program = Effect.gen(function*() {
  const memory = yield* AgentMemory.AgentMemory
  // many at once: one lock, one write, the same outcome as one add after another
  yield* memory.addMany([
    { text: "User prefers Python over JavaScript", type: "instruction", importance: 0.9 },
    { text: "User lives in Paris", type: "fact", key: "user/city", agent: "planner" },
    { text: "Found 3 repos matching 'MCP server': repo-a (234 stars), repo-b (89 stars)", type: "result" }
  ])
  yield* memory.add({ text: "User moved to Berlin", type: "fact", key: "user/city", agent: "planner" }) // supersedes
  const { memories } = yield* memory.recall({ agent: "planner", query: "where does the user live", topK: 2 })
  yield* memory.touch(memories.map((r) => r.memory.id)) // only what the agent really used
  const context = yield* memory.buildContext({ agent: "planner", maxTokens: 60 })
  return { recalled: memories.map((r) => `${r.source}: ${r.memory.text}`), context }
})

export const main = program.pipe(Effect.provide(AgentMemory.layerMemory({ team: "research", maxEntries: 500 })))
